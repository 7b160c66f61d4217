def pytest_terminal_summary(terminalreporter):
    """Report what each wrong implementation lost (tests/test_wrong_implementations.py)."""
    reports = [r for r in terminalreporter.stats.get("passed", [])
               if any(key == "caught" for key, _ in r.user_properties)]
    if not reports:
        return
    terminalreporter.section("what the wrong implementations lost")
    for report in sorted(reports, key=lambda r: r.nodeid):
        terminalreporter.write_line(report.nodeid.split("[", 1)[-1].rstrip("]"))
        for line in dict(report.user_properties)["caught"]:
            terminalreporter.write_line(f"    {line}")
