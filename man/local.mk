dist_man_MANS = man/tether.1 man/tether.yaml.5
