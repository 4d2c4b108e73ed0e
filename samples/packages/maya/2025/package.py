name = "maya"
version = "2025"
description = "Stub maya package so rez can resolve the samples offline."
