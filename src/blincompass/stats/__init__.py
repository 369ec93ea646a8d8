from blincompass.stats.competing import CumulativeIncidenceResult as CumulativeIncidenceResult
from blincompass.stats.competing import GrayTestResult as GrayTestResult
from blincompass.stats.competing import cumulative_incidence as cumulative_incidence
from blincompass.stats.competing import gray_test as gray_test
