"""The integrity check run at the top of every test cell while grading.

``autograder/integrity.py`` injects this file's source into each test cell, as a
hidden region, followed by a call with a per-run nonce and the course package's name. It runs in the student's
kernel, so it imports nothing of the course and keeps everything inside one function.
It fails the cell when the notebook changed what the tests compare with, or how
errors are shown; it prints the nonce when all is well, and the grader scores a
test cell without that line as not run as written.
"""


def _course_integrity_check(nonce, package):
    import importlib.util
    import inspect
    import os
    import sys

    problems = []

    installed = tuple({os.path.realpath(p) + os.sep for p in (sys.prefix, sys.base_prefix)})

    def installed_code(obj):
        """False for a function defined in the notebook or in a file the student wrote."""
        try:
            func = inspect.unwrap(obj)
        except ValueError:
            return False
        code = getattr(func, "__code__", None)
        if code is None:  # a builtin or C function: identities are compared where they matter
            return True
        return os.path.realpath(code.co_filename).startswith(installed)

    torch = sys.modules.get("torch")
    if torch is not None:
        builtin = torch._C._VariableFunctions
        for name in ("isclose", "allclose", "equal", "softmax", "matmul"):
            if getattr(torch, name) is not getattr(builtin, name):
                problems.append(f"torch.{name}")
        for name in ("isclose", "allclose", "equal", "__eq__", "softmax"):
            if vars(torch.Tensor).get(name, getattr(torch._C.TensorBase, name)) is not getattr(
                torch._C.TensorBase, name
            ):
                problems.append(f"torch.Tensor.{name}")
        modules = [torch, torch.testing, torch.nn.functional, torch.nn.init, torch.autograd]
        for module in modules:
            for name, obj in list(vars(module).items()):
                if callable(obj) and not installed_code(obj):
                    problems.append(f"{module.__name__}.{name}")
        for name, cls in list(vars(torch.nn).items()):
            if isinstance(cls, type):
                generated = "__dataclass_fields__" in vars(cls)  # its dunders come from exec
                for attr, obj in list(vars(cls).items()):
                    if generated and attr.startswith("__"):
                        continue
                    if callable(obj) and not installed_code(obj):
                        problems.append(f"torch.nn.{name}.{attr}")

    numpy = sys.modules.get("numpy")
    if numpy is not None:
        for module in (numpy, numpy.testing):
            for name in ("allclose", "isclose", "array_equal", "assert_allclose", "assert_array_equal"):
                obj = getattr(module, name, None)
                if obj is not None and not installed_code(obj):
                    problems.append(f"{module.__name__}.{name}")

    checks = sys.modules.get(f"{package}.checks")
    if checks is not None:
        spec = importlib.util.spec_from_file_location("_pristine_checks", checks.__file__)
        pristine = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(pristine)
        shell_ns = getattr(get_ipython(), "user_ns", {})  # noqa: F821 - IPython's builtin
        for name, original in vars(pristine).items():
            if not inspect.isfunction(original) or original.__module__ != "_pristine_checks":
                continue
            expected = inspect.unwrap(original).__code__
            for where, obj in (
                (f"{package}.checks", getattr(checks, name, None)),
                ("the notebook", shell_ns.get(name, getattr(checks, name, None))),
            ):
                code = getattr(inspect.unwrap(obj) if callable(obj) else obj, "__code__", None)
                if (
                    code is None
                    or code.co_code != expected.co_code
                    or not os.path.samefile(code.co_filename, checks.__file__)
                ):
                    problems.append(f"{name} in {where}")

    shell = get_ipython()  # noqa: F821 - IPython's builtin
    for name in (
        "showtraceback",
        "_showtraceback",
        "showsyntaxerror",
        "run_cell",
        "run_cell_async",
        "run_code",
        "run_ast_nodes",
        "transform_cell",
        "should_run_async",
    ):
        own = vars(shell).get(name)
        # ipykernel keeps the shell's own bound _showtraceback here at start-up: not a patch.
        if own is not None and not (
            getattr(own, "__self__", None) is shell
            and getattr(own, "__func__", None) is getattr(type(shell), name, None)
        ):
            problems.append(f"IPython's {name}")
    if shell.custom_exceptions:
        problems.append("IPython's custom exception handler")
    if shell.ast_transformers or shell.input_transformers_post:
        problems.append("IPython's cell transformers")
    for event, callbacks in shell.events.callbacks.items():
        for callback in callbacks:
            module = getattr(callback, "__module__", "") or ""
            if not module.startswith(("IPython", "ipykernel", "matplotlib", "matplotlib_inline")):
                problems.append(f"an IPython '{event}' hook")

    if problems:
        found = ", ".join(sorted(set(problems))[:5])
        raise RuntimeError(
            f"IntegrityError: this notebook changed what the tests rely on ({found}). "
            "Remove the code that replaces or patches them, then run the notebook again."
        )
    print(nonce)
