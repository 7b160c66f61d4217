"""The course's support package: the reference building blocks later lessons import
(one module a lesson, named by concept: ``qkv``, ``attention``, ``multi_head``,
``masking``, ...), plus the checks behind the lessons' tests, plots, data and training.

Import from the modules: ``from transformer_course.attention import softmax``.
``tests/test_reference.py`` keeps each module equal to its solution notebook.
"""
