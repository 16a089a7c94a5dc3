// The interactive API docs (Swagger UI, vendored under vendor/swagger-ui): no CDN, no inline
// script, so they work offline and under the server's Content-Security-Policy.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
