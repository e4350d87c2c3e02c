package procmem

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A status file as Linux writes it (proc(5)); only VmRSS and VmHWM matter.
const statusText = `Name:	myelin
Umask:	0022
State:	S (sleeping)
Pid:	4242
VmPeak:	 1300000 kB
VmSize:	 1250000 kB
VmHWM:	   81234 kB
VmRSS:	   65432 kB
RssAnon:	   40000 kB
Threads:	12
`

func TestParseStatus_ReadsRSSAndHWMInBytes(t *testing.T) {
	st, err := ParseStatus(strings.NewReader(statusText))
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS != 65432*1024 || st.HWM != 81234*1024 {
		t.Errorf("got %+v", st)
	}
}

func TestParseStatus_Rejects(t *testing.T) {
	for name, text := range map[string]string{
		"kernel thread without Vm lines": "Name:\tkthreadd\nState:\tS\n",
		"only RSS":                       "VmRSS:\t 1 kB\n",
		"not a number":                   "VmRSS:\t lots kB\nVmHWM:\t 1 kB\n",
		"wrong unit":                     "VmRSS:\t 1 MB\nVmHWM:\t 1 kB\n",
		"negative":                       "VmRSS:\t -1 kB\nVmHWM:\t 1 kB\n",
		"empty":                          "",
	} {
		if _, err := ParseStatus(strings.NewReader(text)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSampler_OwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	sp := Start(os.Getpid(), 5*time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	s := sp.Stop()
	if s.Error != "" {
		t.Fatal(s.Error)
	}
	if s.RSSBefore <= 0 || s.RSSAfter <= 0 || s.RSSMax < s.RSSBefore || s.HWMAfter <= 0 || s.Samples < 2 {
		t.Errorf("implausible sample %+v", s)
	}
}

func TestSampler_MissingProcessReportsError(t *testing.T) {
	// PID 0 never has a /proc entry.
	s := Start(0, time.Millisecond).Stop()
	if s.Error == "" {
		t.Errorf("no error for a missing process: %+v", s)
	}
}
