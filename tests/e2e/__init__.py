"""End-to-end tests (marker `e2e`) and the e2e harness's own tests."""
