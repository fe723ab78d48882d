package memcachedtest

import "os"

func requireMemcached() bool { return os.Getenv("MEMCONS_REQUIRE_MEMCACHED") != "" }

func uidIsRoot() bool { return os.Geteuid() == 0 }
