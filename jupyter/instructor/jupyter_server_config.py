"""JupyterLab for instructors: `make formgrader` sets JUPYTER_CONFIG_DIR to this folder.

nbgrader is on as it comes (formgrader, Create Assignment, Validate). The course is the
repository: nbgrader_config.py at its top names solutions/ as the source and lessons/
as the release folder; `make formgrader` starts the server there.
"""

from pathlib import Path

c = get_config()  # noqa: F821 - Jupyter provides it

# No news feed, no update checks, no pop-ups asking about either (../lab-settings/overrides.json).
c.LabApp.app_settings_dir = str(Path(__file__).resolve().parent.parent / "lab-settings")
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"

c.KernelSpecManager.allowed_kernelspecs = {"python3"}
