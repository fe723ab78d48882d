package main

import (
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// prometheusService is the part of the compose file's prometheus service
// the test checks.
type prometheusService struct {
	Image     string   `yaml:"image"`
	Profiles  []string `yaml:"profiles"`
	Volumes   []string `yaml:"volumes"`
	DependsOn []string `yaml:"depends_on"`
}

// scrapeConfig is the part of a Prometheus config the test checks.
type scrapeConfig struct {
	ScrapeConfigs []struct {
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// TestCompose_PrometheusScrapesEveryPeer checks the "metrics" profile:
// Prometheus mounts a config whose targets are exactly the peers' metrics
// addresses as the containers resolve them (service name, metrics port),
// and promtool accepts that config when it is installed.
func TestCompose_PrometheusScrapesEveryPeer(t *testing.T) {
	b, err := os.ReadFile("docker-compose.yml")
	require.NoError(t, err)
	var f struct {
		Services map[string]prometheusService `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(b, &f))
	prom, ok := f.Services["prometheus"]
	require.True(t, ok, "a prometheus service")
	assert.Equal(t, []string{"metrics"}, prom.Profiles, "only with --profile metrics")
	require.Len(t, prom.Volumes, 1)
	src, _, _ := strings.Cut(prom.Volumes[0], ":")

	pb, err := os.ReadFile(src)
	require.NoError(t, err, "the mounted Prometheus config exists")
	var pc scrapeConfig
	require.NoError(t, yaml.Unmarshal(pb, &pc))
	var targets []string
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}

	// The peers' metrics addresses as serve reads them from the shared
	// environment.
	isolateEnv(t)
	for k, v := range readCompose(t).Services["peer1"].Environment {
		t.Setenv(k, composeDefaultRE.ReplaceAllString(v, "$1"))
	}
	lc, _, err := load(t, "--config", "config.ini", "--name", "peer1")
	require.NoError(t, err)
	cfg, err := buildConfig(lc.raw)
	require.NoError(t, err)
	var want []string
	for _, p := range cfg.Peers {
		require.NotEmpty(t, p.MetricsAddr, "%s serves metrics", p.Name)
		_, port, err := net.SplitHostPort(p.MetricsAddr)
		require.NoError(t, err)
		want = append(want, net.JoinHostPort(p.Name, port))
		assert.Contains(t, prom.DependsOn, p.Name)
	}
	slices.Sort(targets)
	assert.Equal(t, want, targets, "Prometheus scrapes each peer at its metrics port")

	if bin, err := exec.LookPath("promtool"); err == nil {
		out, err := exec.Command(bin, "check", "config", src).CombinedOutput()
		assert.NoError(t, err, "promtool check config:\n%s", out)
	}
}
