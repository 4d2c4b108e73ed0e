name = "platform"
version = "linux"
description = "Stub platform package so rez can resolve the samples offline."
