"""The controller's REST API (FastAPI): validates, calls ``fabric``, shapes the answer."""
