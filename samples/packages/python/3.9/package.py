name = "python"
version = "3.9"
description = "Stub python package so rez can resolve the samples offline."
