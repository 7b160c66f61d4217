"""JupyterLab as a student sees it: `make lab` sets JUPYTER_CONFIG_DIR to this folder.

The user's own Jupyter configuration (~/.jupyter) is neither read nor changed.
labconfig/page_config.json beside this file turns off nbgrader's instructor plugins
(Create Assignment, Formgrader, the Assignments and Courses lists, the Nbgrader menu);
the Validate button stays.
"""

from pathlib import Path

c = get_config()  # noqa: F821 - Jupyter provides it

# No news feed, no update checks, no pop-ups asking about either (../lab-settings/overrides.json).
c.LabApp.app_settings_dir = str(Path(__file__).resolve().parent.parent / "lab-settings")
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
# The extension manager would search PyPI; students install nothing from the browser.
c.LabApp.extension_manager = "readonly"

# The instructor's server side of nbgrader: formgrader would look for the course above
# lessons/ and log errors; the assignment and course lists need an exchange the course has
# none of. Validate (nbgrader.server_extensions.validate_assignment) stays on.
c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.course_list": False,
}

# Only the course's kernel: the Python of the course's environment, where torch and
# transformer_course are installed (make sets JUPYTER_PREFER_ENV_PATH=1 so that a
# `python3` kernel of the user's own cannot stand in for it).
c.KernelSpecManager.allowed_kernelspecs = {"python3"}
