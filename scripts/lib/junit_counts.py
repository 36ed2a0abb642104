"""Print "passed failed skipped xfailed" from a pytest JUnit report ("- - - -" if there is none).

Used by scripts/test and scripts/test-v2 for their summary lines; xfail is reported in JUnit as a skip
of type pytest.xfail.
"""

import sys
import xml.etree.ElementTree as ET


def main(path: str) -> str:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return "- - - -"
    passed = failed = skipped = xfailed = 0
    for case in root.iter("testcase"):
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            failed += 1
        elif "skipped" in kinds:
            skip = case.find("skipped")
            if skip is not None and skip.get("type") == "pytest.xfail":
                xfailed += 1
            else:
                skipped += 1
        else:
            passed += 1
    return f"{passed} {failed} {skipped} {xfailed}"


if __name__ == "__main__":
    print(main(sys.argv[1]))
