name = "localtools"
description = "Unversioned site tools."

def commands():
    env.PATH.append("{root}/bin")
