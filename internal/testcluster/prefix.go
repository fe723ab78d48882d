package testcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// packagePrefix matches a Go package name of this project used as a
// message prefix ("kvcontroller: backend error"). The names are read from
// the module's directories, so a new package is covered at once. Every
// line a test cluster's peer logs is checked against it.
var packagePrefix = sync.OnceValues(func() (*regexp.Regexp, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	var names []string
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata"):
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(path, ".go") && filepath.Dir(path) != root:
			names = append(names, filepath.Base(filepath.Dir(path)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the module's packages: %w", err)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return regexp.MustCompile(`(^|[^\w.-])(` + strings.Join(names, "|") + `): `), nil
})

// moduleRoot returns the nearest directory at or above the working
// directory that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
