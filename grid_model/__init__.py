"""The network: build, import, areas, address resolution, tracing, outage prediction, storms."""
