"""Where tests find the repository and the data they carry, wherever in tests/ the test file sits."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
