name = "relfam"
version = "1.0.0"
description = "Release family whose versions rez orders differently from PEP 440."

def commands():
    env.RELFAM_VERSION = "1.0.0"
