name = "mayaplug"
version = "1.3.0"
description = "Rigging helpers for Maya."
requires = ["pyutil-1.2"]
variants = [
    ["maya-2024"],
    ["maya-2025"],
]

def commands():
    env.PYTHONPATH.append("{root}/python")
    env.MAYA_MODULE_PATH.append("{root}/modules")
