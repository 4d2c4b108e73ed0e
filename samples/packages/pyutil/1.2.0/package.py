name = "pyutil"
version = "1.2.0"
description = "Small path and string helpers shared by pipeline tools."
authors = ["pipeline-td"]
tools = ["pyutil"]
requires = ["python-3"]

def commands():
    env.PYTHONPATH.append("{root}/python")
    env.PATH.append("{root}/bin")
