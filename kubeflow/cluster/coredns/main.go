// CoreDNS with the plugins the local cluster's DNS uses and no others, built the way CoreDNS
// documents for a custom plugin set (its own main importing the plugins; the Corefile's order is
// CoreDNS's own, core/dnsserver/zdirectives.go). kubernetes answers the cluster's names from the
// API server, as the DNS add-on of any cluster does; hosts answers Google's names with this machine's
// stand-ins (cluster.sh writes the Corefile). Nothing forwards: any other name fails, so a pod can
// never reach past the cluster by name.
package main

import (
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
