package main

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/viper"
	"gopkg.in/ini.v1"
)

// iniCodec reads and writes INI files for viper, which has no INI codec of
// its own since v1.20. Each [section] becomes a nested map of string values;
// keys outside any section stay at the top level.
type iniCodec struct{}

// iniLoadOptions lets values hold '#' and ';' unless a space precedes them,
// so "secret = a;b" keeps its semicolon while "mode = eventual ; note"
// drops the comment.
func iniLoadOptions() ini.LoadOptions {
	return ini.LoadOptions{SpaceBeforeInlineComment: true}
}

// Decode implements viper.Decoder.
func (iniCodec) Decode(b []byte, v map[string]any) error {
	f, err := ini.LoadSources(iniLoadOptions(), b)
	if err != nil {
		return fmt.Errorf("parse ini: %w", err)
	}
	for _, sec := range f.Sections() {
		keys := sec.Keys()
		if sec.Name() == ini.DefaultSection {
			for _, k := range keys {
				v[k.Name()] = k.Value()
			}
			continue
		}
		m := make(map[string]any, len(keys))
		for _, k := range keys {
			m[k.Name()] = k.Value()
		}
		v[sec.Name()] = m
	}
	return nil
}

// Encode implements viper.Encoder: top-level scalars first, then one
// section per nested map, everything in key order.
func (iniCodec) Encode(v map[string]any) ([]byte, error) {
	f := ini.Empty(iniLoadOptions())
	for _, name := range slices.Sorted(maps.Keys(v)) {
		switch val := v[name].(type) {
		case map[string]any:
			sec, err := f.NewSection(name)
			if err != nil {
				return nil, fmt.Errorf("encode ini section %q: %w", name, err)
			}
			for _, k := range slices.Sorted(maps.Keys(val)) {
				if _, err := sec.NewKey(k, iniValue(val[k])); err != nil {
					return nil, fmt.Errorf("encode ini key %s.%s: %w", name, k, err)
				}
			}
		default:
			if _, err := f.Section(ini.DefaultSection).NewKey(name, iniValue(val)); err != nil {
				return nil, fmt.Errorf("encode ini key %s: %w", name, err)
			}
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode ini: %w", err)
	}
	return buf.Bytes(), nil
}

// iniValue renders one value; lists become comma-separated.
func iniValue(v any) string {
	switch x := v.(type) {
	case []string:
		return strings.Join(x, ", ")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ", ")
	default:
		return fmt.Sprint(x)
	}
}

// newViper returns a viper instance that understands INI files and maps
// every key to an environment variable MEMCONS_<SECTION>_<KEY>.
func newViper() (*viper.Viper, error) {
	reg := viper.NewCodecRegistry()
	if err := reg.RegisterCodec("ini", iniCodec{}); err != nil {
		return nil, fmt.Errorf("register ini codec: %w", err)
	}
	v := viper.NewWithOptions(viper.WithCodecRegistry(reg))
	v.SetConfigType("ini")
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	return v, nil
}
