package main

import (
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// composeService holds the parts of a docker-compose service the tests check.
type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	DependsOn   []string          `yaml:"depends_on"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

// imageConfigPath is where the Dockerfile puts config.ini.
const imageConfigPath = "/etc/memcons/config.ini"

// composeDefaultRE matches compose's ${VAR:-default} interpolation.
var composeDefaultRE = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}`)

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("docker-compose.yml")
	require.NoError(t, err)
	var f composeFile
	require.NoError(t, yaml.Unmarshal(b, &f))
	return f
}

func TestDockerfile_InstallsConfigWhereComposeReadsIt(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	assert.Contains(t, string(b), "COPY config.ini "+imageConfigPath)
	assert.Contains(t, string(b), `ENTRYPOINT ["memcons"]`)
}

func TestCompose_ReplicasAndPeers(t *testing.T) {
	f := readCompose(t)
	for _, name := range []string{"memcached1", "memcached2", "memcached3"} {
		svc, ok := f.Services[name]
		require.True(t, ok, "service %s", name)
		assert.True(t, strings.HasPrefix(svc.Image, "memcached:"), name)
		assert.Contains(t, strings.Join(svc.Command, " "), "-I 2m", "%s holds a 1 MiB value plus its envelope", name)
	}
	for _, name := range []string{"peer1", "peer2", "peer3"} {
		svc, ok := f.Services[name]
		require.True(t, ok, "service %s", name)
		assert.NotNil(t, svc.Build, "%s builds the Dockerfile", name)
		assert.NotEmpty(t, svc.Environment, "%s gets the shared environment", name)
	}
}

// TestCompose_PeerConfigIsValid loads the shipped config.ini with each peer
// service's command line and environment, as the container would, and
// validates the result.
func TestCompose_PeerConfigIsValid(t *testing.T) {
	f := readCompose(t)
	for _, name := range []string{"peer1", "peer2", "peer3"} {
		t.Run(name, func(t *testing.T) {
			svc := f.Services[name]
			isolateEnv(t)
			for k, v := range svc.Environment {
				t.Setenv(k, composeDefaultRE.ReplaceAllString(v, "$1"))
			}
			require.NotEmpty(t, svc.Command)
			require.Equal(t, "serve", svc.Command[0])
			args := append([]string(nil), svc.Command[1:]...)
			for i := range args {
				if args[i] == imageConfigPath {
					args[i] = "config.ini"
				}
			}
			lc, _, err := load(t, args...)
			require.NoError(t, err)
			cfg, err := buildConfig(lc.raw)
			require.NoError(t, err)
			assert.Equal(t, name, cfg.Self)
			assert.Equal(t, "/var/lib/memcons/data/"+name, cfg.DataDir)

			for _, p := range cfg.Peers {
				host, port, err := net.SplitHostPort(p.ClientAddr)
				require.NoError(t, err)
				assert.Equal(t, "0.0.0.0", host, "%s listens for clients on every interface", p.Name)
				assert.Contains(t, f.Services[p.Name].Ports, port+":"+port, "%s publishes its client port", p.Name)

				peerHost, _, err := net.SplitHostPort(p.PeerAddr)
				require.NoError(t, err)
				assert.Equal(t, p.Name, peerHost, "peers reach %s by its service name", p.Name)

				replicaHost, _, err := net.SplitHostPort(p.ReplicaAddr)
				require.NoError(t, err)
				assert.Contains(t, f.Services, replicaHost, "%s's replica is a compose service", p.Name)
				assert.Contains(t, f.Services[p.Name].DependsOn, replicaHost)
			}
		})
	}
}
