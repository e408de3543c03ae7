"""The demo line: throwaway claim material, simulated boards, a local cloud, and the
trust check that lets the real hook judge every case. Production code never imports
this package."""
