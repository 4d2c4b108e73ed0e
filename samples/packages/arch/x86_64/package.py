name = "arch"
version = "x86_64"
description = "Stub arch package so rez can resolve the samples offline."
