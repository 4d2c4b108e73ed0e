name = "python"
version = "3.11"
description = "Stub python package so rez can resolve the samples offline."
