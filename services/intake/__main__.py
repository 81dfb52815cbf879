"""`python -m services.intake`."""

from services.intake.service import SPEC
from shared.platform.runtime import run

if __name__ == "__main__":
    run(SPEC)
