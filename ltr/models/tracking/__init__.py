"""Complete tracking networks (one module per tracker, e.g. ``siamrpnpp``)."""
