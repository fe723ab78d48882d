package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/memcons/memcons/internal/memcachedtest"
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

	bin := memcachedtest.Tool(t, "promtool", "Debian: apt-get install prometheus")
	out, err := exec.Command(bin, "check", "config", src).CombinedOutput()
	assert.NoError(t, err, "promtool check config:\n%s", out)
}

// dashboardSeriesRE finds the memcons series a PromQL expression names.
var dashboardSeriesRE = regexp.MustCompile(`\bmemcons_[a-z_]+`)

// TestGrafanaDashboard_QueriesDocumentedSeries checks that every query of
// docs/grafana-memcons.json names only series docs/METRICS.md lists, and,
// with promtool installed, that each is valid PromQL (as a recording rule,
// with Grafana's $__rate_interval replaced by a duration).
func TestGrafanaDashboard_QueriesDocumentedSeries(t *testing.T) {
	b, err := os.ReadFile("docs/grafana-memcons.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	doc, err := os.ReadFile("docs/METRICS.md")
	require.NoError(t, err)

	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			n++
			for _, name := range dashboardSeriesRE.FindAllString(tg.Expr, -1) {
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					name = strings.TrimSuffix(name, suffix)
				}
				assert.Contains(t, string(doc), "`"+name+"`", "panel %q queries %s, which METRICS.md lists", p.Title, name)
			}
			expr := strings.ReplaceAll(tg.Expr, "$__rate_interval", "5m")
			quoted, err := json.Marshal(expr) // a JSON string is a YAML string
			require.NoError(t, err)
			fmt.Fprintf(&rules, "      - record: dashboard:q%d\n        expr: %s\n", n, quoted)
		}
	}
	require.Positive(t, n, "the dashboard has queries")

	bin := memcachedtest.Tool(t, "promtool", "Debian: apt-get install prometheus")
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	require.NoError(t, os.WriteFile(path, []byte(rules.String()), 0o600))
	out, err := exec.Command(bin, "check", "rules", path).CombinedOutput()
	assert.NoError(t, err, "promtool check rules:\n%s", out)
}
