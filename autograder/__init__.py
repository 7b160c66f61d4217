"""The course's grading and release tooling: ``python -m autograder --help``."""
