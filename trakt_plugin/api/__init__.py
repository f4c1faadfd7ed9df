"""The JSON REST API mounted at ``/api/v1`` (thin routes: validate, call a service, shape)."""
