"""The lessons' step control, driven as a learner does."""
import re

STEP = re.compile(r"Step (\d+) of (\d+)")


def step_once(page) -> int:
    """Click Next and wait until the page shows the following step; returns the new step."""
    shown = page.get_by_text(STEP).first
    shown.wait_for()
    n, total = map(int, STEP.search(shown.inner_text()).groups())
    page.get_by_role("button", name="Next ▶").click()
    page.get_by_text(f"Step {n + 1} of {total}").wait_for()
    return n + 1
