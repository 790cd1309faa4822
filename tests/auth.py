"""The admin key every test deployment and in-process app is given (API_ADMIN_KEY), and its header."""

ADMIN_KEY = "test-admin-key-not-for-production"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
