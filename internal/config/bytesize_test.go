package config

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{"1024", 1024, false},
		{"0", 0, false},
		{"32MiB", 32 << 20, false},
		{"32mib", 32 << 20, false},
		{"32Mi", 32 << 20, false},
		{"100MB", 100_000_000, false},
		{"100M", 100_000_000, false},
		{"512 KiB", 512 << 10, false},
		{"1GB", 1_000_000_000, false},
		{"2GiB", 2 << 30, false},
		{"1TiB", 1 << 40, false},
		{"7B", 7, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"1.5GiB", 0, true},
		{"32XB", 0, true},
		{"99999999999999999999", 0, true},
		{"9999999TiB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseByteSize(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseByteSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestByteSizeYAML(t *testing.T) {
	tests := []struct {
		yaml string
		want ByteSize
	}{
		{"size: 33554432", 32 * MiB},
		{"size: 32MiB", 32 * MiB},
		{`size: "100MB"`, 100 * MB},
	}
	for _, tt := range tests {
		var v struct{ Size ByteSize }
		if err := yaml.Unmarshal([]byte(tt.yaml), &v); err != nil {
			t.Errorf("%s: %v", tt.yaml, err)
			continue
		}
		if v.Size != tt.want {
			t.Errorf("%s: %d, want %d", tt.yaml, v.Size, tt.want)
		}
		out, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back struct{ Size ByteSize }
		if err := yaml.Unmarshal(out, &back); err != nil || back.Size != v.Size {
			t.Errorf("round trip of %s through %q: %d, %v", tt.yaml, out, back.Size, err)
		}
	}
	var v struct{ Size ByteSize }
	if err := yaml.Unmarshal([]byte("size: [1]"), &v); err == nil {
		t.Error("a list was accepted as a size")
	}
}

func TestByteSizeString(t *testing.T) {
	tests := map[ByteSize]string{
		0:          "0",
		1000:       "1000",
		1024:       "1KiB",
		32 * MiB:   "32MiB",
		3 * GiB:    "3GiB",
		MiB + 1:    "1048577",
		2 * TiB:    "2TiB",
		1536 * KiB: "1536KiB",
	}
	for in, want := range tests {
		if got := in.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(in), got, want)
		}
	}
}
