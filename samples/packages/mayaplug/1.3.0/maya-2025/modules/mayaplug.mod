+ mayaplug 1.3.0 ../python
