name = "sitedata"
version = "2023.01"
description = "Studio colour and lens data, January 2023 drop."

def commands():
    env.SITEDATA_ROOT = "{root}"
    env.PATH.append("{root}/scripts")
