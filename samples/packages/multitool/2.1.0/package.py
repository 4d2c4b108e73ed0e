name = "multitool"
version = "2.1.0"
description = "Batch image tool with a compiled speed-up per Python version."
tools = ["multitool"]
requires = ["pyutil-1.2+<2"]
variants = [
    ["platform-linux", "arch-x86_64", "python-3.9"],
    ["platform-linux", "arch-x86_64", "python-3.11"],
]

def commands():
    env.PYTHONPATH.prepend("{root}/python")
    env.PATH.append("{root}/bin")
    env.MULTITOOL_VARIANT = "{root}"
