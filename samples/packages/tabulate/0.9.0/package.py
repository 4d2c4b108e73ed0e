name = "tabulate"
version = "0.9.0"
description = "Pretty-print tabular data"
authors = ["Sergey Astanin"]
requires = ["python-3.7+"]
pip_name = "tabulate (0.9.0)"
from_pip = True
is_pure_python = True
help = [["Home Page", "https://github.com/astanin/python-tabulate"]]

def commands():
    env.PYTHONPATH.append("{root}/python")
    env.PATH.append("{root}/bin")
