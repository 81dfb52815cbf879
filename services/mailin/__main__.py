"""`python -m services.mailin`."""

from services.mailin.service import SPEC
from shared.platform.runtime import run

if __name__ == "__main__":
    run(SPEC)
