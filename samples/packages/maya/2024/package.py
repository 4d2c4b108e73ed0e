name = "maya"
version = "2024"
description = "Stub maya package so rez can resolve the samples offline."
