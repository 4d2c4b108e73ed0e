# Defaults for every setting of the 'artifactory' package repository type. rez requires each key
# of a plugin's schema to have a value, so all of them are here.
artifactory = {
    # Named indexes: packages_path = ["artifactory@studio"]. Names not found here are looked up
    # in the rezwheel config file ([index.<name>]), so CI and rez share one name.
    #   "indexes": {"studio": {"url": "https://host/artifactory/api/pypi/rez/simple/"}}
    # A name may list several indexes, read in order file by file (a site mirror first):
    #   "indexes": {"site": {"urls": ["/mnt/mirror", "https://host/.../simple/"]}}
    "indexes": {},
    # Prefix of distribution names (as given to `rezwheel convert/publish --prefix`).
    "prefix": "",
    # Where definitions, payloads and localized roots live ("" = the user cache dir).
    "store": "",
    # Root of a site mirror holding packages that set rezwheel = {"localize": "never"}.
    "site_path": "",
    # Seconds an index page read is taken as fresh without asking the server again (a render
    # node sets 300): within it a warm resolve sends no request. 0: every page is revalidated
    # (a conditional request). Per index: "indexes": {"studio": {"url": ..., "ttl": 300}}, or
    # ttl = 300 under [index.studio] in the rezwheel config; $REZWHEEL_TTL overrides this.
    "ttl": 0,
}
