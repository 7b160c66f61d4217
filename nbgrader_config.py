"""nbgrader's configuration for instructors running nbgrader's own commands here
(formgrader, `nbgrader generate_assignment`). The grader itself builds the same
settings in a temporary course directory (autograder/nbconfig.py)."""

from autograder.nbconfig import course_config

c = get_config()  # noqa: F821 - nbgrader provides it
c.merge(course_config())
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
