"""Work orders and crews through their life, dispatch policies, the event-driven engine, KPIs."""
