name = "shotbundle"
version = "3.0"
description = "Everything a shot artist needs, as one request."
requires = ["pyutil-1.2", "sitedata-2023", "~mayaplug-1.3"]
