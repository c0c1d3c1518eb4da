// Command etcd is etcd's own server (go.etcd.io/etcd/server/v3's etcdmain, what etcd's release
// binary runs), built here because etcd's main package lives in a module the proxy does not list.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
