// Instant-vector and scalar functions (src/query/eval-instant-functions.ts): table-driven engine
// cases in the promql-cases format, plus direct checks of what the engine cannot show yet
// (result order of sort*, timestamp() of a selector) and of the Go-compatible helpers.
import { describe, expect, it, test } from 'vitest';
import { MochaError } from '../../src/errors.js';
import { labelsFromRecord } from '../../src/model/labels.js';
import type { Call } from '../../src/query/ast.js';
import {
  bucketFraction,
  bucketQuantile,
  dateFunctionOf,
  evalInstantFunction,
  evalTimestampOverSelector,
  goLog10,
  goLog2,
  hasInstantFunction,
  instantResultIsOrdered,
  natsortLess,
  parseGoFloat,
  timestampSelectorArg,
} from '../../src/query/eval-instant-functions.js';
import { EvalContext, type StepSeries } from '../../src/query/eval-selector.js';
import { evaluate } from '../../src/query/engine.js';
import { parseExpr } from '../../src/query/parser.js';
import { caseTitle, parseCaseFile, runCase } from '../helpers/promql-cases.js';
import { MemoryQuerier, series } from '../helpers/memory-querier.js';
import { mulberry32 } from '../helpers/prng.js';

const CASES = String.raw`
load 15s
  x{a="1"} -2.5 NaN Inf -Inf 0.5 stale 7
  x{a="2"} 3x6
  y{a="1"} 4x6

# Math functions drop __name__ and treat NaN and ±Inf as Go's math does.
eval instant at 0s abs(x)
  {a="1"} 2.5
  {a="2"} 3
eval range from 0 to 90s step 15s abs(x{a="1"})
  {a="1"} 2.5 NaN Inf Inf 0.5 _ 7
eval range from 0 to 90s step 15s ceil(x{a="1"})
  {a="1"} -2 NaN Inf -Inf 1 _ 7
eval range from 0 to 90s step 15s floor(x{a="1"})
  {a="1"} -3 NaN Inf -Inf 0 _ 7
eval range from 0 to 90s step 15s sgn(x{a="1"})
  {a="1"} -1 NaN 1 -1 1 _ 1
eval range from 0 to 90s step 15s sqrt(x{a="1"})
  {a="1"} NaN NaN Inf NaN 0.7071067811865476 _ 2.6457513110645907
eval range from 0 to 90s step 15s exp(x{a="1"})
  {a="1"} 0.0820849986238988 NaN Inf 0 1.6487212707001282 _ 1096.6331584284585
eval range from 0 to 90s step 15s ln(x{a="1"})
  {a="1"} NaN NaN Inf NaN -0.6931471805599453 _ 1.9459101490553132
eval instant at 0s log2(y)
  {a="1"} 2
eval instant at 0s log10(y)
  {a="1"} 0.6020599913279624
eval instant at 0s sin(y)
  {a="1"} -0.7568024953079282
eval instant at 0s cos(y)
  {a="1"} -0.6536436208636119
eval instant at 0s tan(y)
  {a="1"} 1.1578212823495775
eval instant at 0s asin(x{a="2"} - 2.5)
  {a="2"} 0.5235987755982989
eval instant at 0s acos(x{a="2"} - 2.5)
  {a="2"} 1.0471975511965979
eval instant at 0s atan(y)
  {a="1"} 1.3258176636680326
eval instant at 0s sinh(y)
  {a="1"} 27.28991719712775
eval instant at 0s cosh(y)
  {a="1"} 27.308232836016487
eval instant at 0s tanh(y)
  {a="1"} 0.999329299739067
eval instant at 0s asinh(y)
  {a="1"} 2.0947125472611012
eval instant at 0s acosh(y)
  {a="1"} 2.0634370688955608
eval instant at 0s atanh(x{a="2"} - 2.5)
  {a="2"} 0.5493061443340549
eval instant at 0s acos(y)
  {a="1"} NaN
eval instant at 0s deg(y)
  {a="1"} 229.1831180523293
eval instant at 0s rad(y)
  {a="1"} 0.06981317007977318

# Dropping __name__ makes x{a="1"} and y{a="1"} one label set: an error where both have a
# sample at the same step.
eval_fail instant at 0s abs({a="1"})
  error vector cannot contain metrics with the same labelset
  code QUERY_EXECUTION

# round: ties go up, to_nearest is a scalar, 0 gives NaN.
eval range from 0 to 60s step 15s round(x{a="1"})
  {a="1"} -2 NaN Inf -Inf 1
eval instant at 0s round(x, 2)
  {a="1"} -2
  {a="2"} 4
eval instant at 0s round(y / 3, 0.1)
  {a="1"} 1.3
eval instant at 0s round(y, 0)
  {a="1"} NaN

# clamp family; max < min gives no output.
eval range from 0 to 60s step 15s clamp(x{a="1"}, -1, 1)
  {a="1"} -1 NaN 1 -1 0.5
eval instant at 0s clamp(x, 5, 1)
eval instant at 0s clamp_min(x, 0)
  {a="1"} 0
  {a="2"} 3
eval instant at 0s clamp_max(x, 0)
  {a="1"} -2.5
  {a="2"} 0
eval instant at 0s clamp(y, NaN, 10)
  {a="1"} NaN
# Go's math.Max/Min let an infinity win over NaN.
eval range from 0 to 30s step 15s clamp_min(x{a="1"}, Inf)
  {a="1"} Inf Inf Inf
eval range from 0 to 30s step 15s clamp_max(x{a="1"}, -Inf)
  {a="1"} -Inf -Inf -Inf
eval range from 0 to 30s step 15s clamp_max(x{a="1"}, NaN)
  {a="1"} NaN NaN NaN

# Scalars and conversions.
eval instant at 90s pi()
  scalar 3.141592653589793
eval instant at 90s time()
  scalar 90
eval range from 0 to 30s step 15s vector(time())
  {} 0 15 30
eval instant at 0s vector(1)
  {} 1
eval instant at 0s scalar(y)
  scalar 4
eval instant at 0s scalar(x)
  scalar NaN
eval instant at 0s scalar(nope)
  scalar NaN
eval range from 0 to 90s step 15s scalar(x{a="1"}) + 0
  {} -2.5 NaN Inf -Inf 0.5 NaN 7

# timestamp() of a computed vector is the step time.
eval range from 0 to 30s step 15s timestamp(abs(y))
  {a="1"} 0 15 30

# The latest sample at or before 100s is the one at 90s (checked with promtool 2.42).
eval instant at 100s timestamp(y)
  {a="1"} 90

clear
load 1m
  t{a="leap"} 1709214300
  t{a="y2k"} 951782399
  t{a="nan"} NaN
  t{a="neg"} -1.5

eval instant at 0s year(t)
  {a="leap"} 2024
  {a="y2k"} 2000
  {a="nan"} 1970
  {a="neg"} 1969
eval instant at 0s month(t)
  {a="leap"} 2
  {a="y2k"} 2
  {a="nan"} 1
  {a="neg"} 12
eval instant at 0s day_of_month(t)
  {a="leap"} 29
  {a="y2k"} 28
  {a="nan"} 1
  {a="neg"} 31
eval instant at 0s day_of_week(t)
  {a="leap"} 4
  {a="y2k"} 1
  {a="nan"} 4
  {a="neg"} 3
eval instant at 0s day_of_year(t)
  {a="leap"} 60
  {a="y2k"} 59
  {a="nan"} 1
  {a="neg"} 365
eval instant at 0s days_in_month(t)
  {a="leap"} 29
  {a="y2k"} 29
  {a="nan"} 31
  {a="neg"} 31
eval instant at 0s hour(t)
  {a="leap"} 13
  {a="y2k"} 23
  {a="nan"} 0
  {a="neg"} 23
eval instant at 0s minute(t)
  {a="leap"} 45
  {a="y2k"} 59
  {a="nan"} 0
  {a="neg"} 59

# Without an argument: the evaluation time, labels {}.
eval range from 0 to 2h step 1h hour()
  {} 0 1 2
eval instant at 1709214300s day_of_week()
  {} 4
eval instant at 1709214300s minute(vector(time()))
  {} 45

clear
load 15s
  up{job="api",instance="a"} 1x4
  up{job="db",instance="b"} 0x4
  up{job="app",instance="c"} 1 1 stale
  u{i="1"} 1 1 stale
  u{i="2"} _ _ _ 2
  v{i="1",j="a"} 1
  v{i="2",j="a"} 2

# label_replace keeps __name__, anchors the regex, expands Go templates.
eval instant at 0s label_replace(up, "dst", "v-$1", "job", "(.*)")
  up{job="api",instance="a",dst="v-api"} 1
  up{job="db",instance="b",dst="v-db"} 0
  up{job="app",instance="c",dst="v-app"} 1
eval instant at 0s label_replace(up, "dst", "x", "job", "a")
  up{job="api",instance="a"} 1
  up{job="db",instance="b"} 0
  up{job="app",instance="c"} 1
eval instant at 0s label_replace(up{job="api"}, "job", "", "job", ".*")
  up{instance="a"} 1
eval instant at 0s label_replace(up{job="db"}, "dst", "empty", "missing", "")
  up{job="db",instance="b",dst="empty"} 0
eval instant at 0s label_replace(up{job="api"}, "dst", "${"$"}{1}-$$-$1x-$name-$", "job", "(?P<name>a)(p)(i)")
  up{job="api",instance="a",dst="a-$--a-$"} 1
eval instant at 0s label_replace(up{job="api"}, "dst", "$2$1", "job", "(a)|(z)")
  up{job="api",instance="a"} 1
eval instant at 0s label_replace(up{job="api"}, "dst", "$2$1", "job", "(a)pi|(z)")
  up{job="api",instance="a",dst="a"} 1
eval instant at 0s label_replace(up{job="api"}, "__name__", "renamed", "job", ".*")
  renamed{job="api",instance="a"} 1
eval instant at 0s label_replace(abs(up{job="api"}), "__name__", "back_$1", "job", "(.*)")
  back_api{job="api",instance="a"} 1
eval_fail instant at 0s label_replace(up, "dst", "x", "job", "((")
  error invalid regular expression in label_replace(): ((
  code QUERY_EXECUTION
eval_fail instant at 0s label_replace(up, "", "x", "job", ".*")
  error invalid destination label name in label_replace(): 
eval_fail instant at 0s label_replace(v, "i", "same", "i", ".*")
  error vector cannot contain metrics with the same labelset
# Colliding series that never share a step are merged (the stale marker ends i="1" at 30s).
eval range from 0 to 45s step 15s label_replace(u, "i", "x", "i", ".*")
  u{i="x"} 1 1 _ 2

eval instant at 0s label_join(up{job="api"}, "dst", "-", "job", "missing", "instance")
  up{job="api",instance="a",dst="api--a"} 1
eval instant at 0s label_join(up{job="api"}, "job", ",")
  up{instance="a"} 1
eval instant at 0s label_join(up{job="api"}, "dst", "", "instance", "job", "instance")
  up{job="api",instance="a",dst="aapia"} 1
eval_fail instant at 0s label_join(up, "dst", "-", "")
  error invalid source label name in label_join(): 
eval_fail instant at 0s label_join(up, "", "-", "job")
  error invalid destination label name in label_join(): 
eval_fail instant at 0s label_join(v, "i", "-", "j")
  error vector cannot contain metrics with the same labelset

# sort* keep __name__; the order of an instant result is checked directly below.
eval instant at 0s sort_desc(up)
  up{job="api",instance="a"} 1
  up{job="db",instance="b"} 0
  up{job="app",instance="c"} 1
eval range from 0 to 30s step 15s sort(up{job="app"})
  up{job="app",instance="c"} 1 1 _
  warn PromQL warning: sort is ineffective for range queries since results are always ordered by labels (1:1)
eval_ordered instant at 0s sort(up)
  up{job="db",instance="b"} 0
  up{job="api",instance="a"} 1
  up{job="app",instance="c"} 1

# absent: labels from the selector's equality matchers.
eval instant at 0s absent(up)
eval instant at 0s absent(nope{job="x", env=~"p.*", a="1", a="2"})
  {job="x"} 1
eval instant at 0s absent({__name__="nope", job="y"})
  {job="y"} 1
eval instant at 0s absent(abs(nope{job="x"}))
  {} 1
eval instant at 0s absent(nope{job!="x"})
  {} 1
eval range from 0 to 45s step 15s absent(up{job="app"})
  {job="app"} _ _ 1 1

clear
load 1m
  req_bucket{le="0.1",job="a"} 10 10
  req_bucket{le="0.5",job="a"} 20 stale
  req_bucket{le="1",job="a"} 30 30
  req_bucket{le="+Inf",job="a"} 40 40
  req_bucket{le="oops",job="a"} 100
  req_bucket{job="a"} 100
  req_bucket{le="0.1",job="b"} 10
  req_bucket{le="0.5",job="b"} 25
  req_bucket{le="1",job="b"} 20
  req_bucket{le="+Inf",job="b"} 40
  req_bucket{le="1",job="c"} 5
  req_bucket{le="+Inf",job="d"} 3
  req_bucket{le="0.5",job="e"} 0
  req_bucket{le="+Inf",job="e"} 0
  neg_bucket{le="-1"} 10
  neg_bucket{le="0"} 20
  neg_bucket{le="+Inf"} 20
  dup_bucket{le="1"} 5
  dup_bucket{le="1.0"} 5
  dup_bucket{le="+Inf"} 20
  other_bucket{le="1",job="a"} 1
  other_bucket{le="+Inf",job="a"} 2

eval instant at 0s histogram_quantile(0.5, req_bucket)
  {job="a"} 0.5
  {job="b"} 0.36666666666666667
  {job="c"} NaN
  {job="d"} NaN
  {job="e"} NaN
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:25)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:25)
eval instant at 0s histogram_quantile(0.25, req_bucket{job="a"})
  {job="a"} 0.1
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:26)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:26)
eval instant at 0s histogram_quantile(0.6, req_bucket{job=~"a|b"})
  {job="a"} 0.7
  {job="b"} 0.47333333333333333
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:25)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:25)
  info PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) (1:25)
eval instant at 0s histogram_quantile(0.9, req_bucket{job="a"})
  {job="a"} 1
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:25)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:25)
eval instant at 0s histogram_quantile(0, req_bucket{job="a"})
  {job="a"} 0
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:23)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:23)
eval instant at 0s histogram_quantile(-1, req_bucket{job=~"a|c"})
  {job="a"} -Inf
  {job="c"} -Inf
  warn PromQL warning: quantile value should be between 0 and 1, got -1 (1:20)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:24)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:24)
eval instant at 0s histogram_quantile(2, req_bucket{job="a"})
  {job="a"} Inf
  warn PromQL warning: quantile value should be between 0 and 1, got 2 (1:20)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:23)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:23)
eval instant at 0s histogram_quantile(NaN, req_bucket{job="a"})
  {job="a"} NaN
  warn PromQL warning: quantile value should be between 0 and 1, got NaN (1:20)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:25)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:25)
eval instant at 0s histogram_quantile(0.25, neg_bucket)
  {} -1
eval instant at 0s histogram_quantile(0.75, neg_bucket)
  {} -0.5
eval instant at 0s histogram_quantile(0.5, dup_bucket)
  {} 1
eval instant at 0s histogram_quantile(0.5, x)
# Step 1m: the le="0.5" bucket of job a is missing, the others stay.
eval range from 0 to 1m step 1m histogram_quantile(0.5, req_bucket{job="a"})
  {job="a"} 0.5 0.55
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:25)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:25)
eval_fail instant at 0s histogram_quantile(0.5, {__name__=~"req_bucket|other_bucket", job="a"})
  error vector cannot contain metrics with the same labelset

eval instant at 0s histogram_fraction(0, 0.5, req_bucket{job="a"})
  {job="a"} 0.5
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:28)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:28)
eval instant at 0s histogram_fraction(0.3, 0.75, req_bucket{job="a"})
  {job="a"} 0.25
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:31)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:31)
eval instant at 0s histogram_fraction(-Inf, Inf, req_bucket{job="a"})
  {job="a"} 1
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:31)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:31)
eval instant at 0s histogram_fraction(1, 0.5, req_bucket{job="a"})
  {job="a"} 0
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:28)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:28)
eval instant at 0s histogram_fraction(NaN, 0.5, req_bucket{job="a"})
  {job="a"} NaN
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:30)
  warn PromQL warning: bucket label "le" is missing or has a malformed value of "oops" (1:30)
eval instant at 0s histogram_fraction(0, 1, req_bucket{job="c"})
  {job="c"} NaN

# Cases from Prometheus' promql/promqltest/testdata/histograms.test (classic buckets only).
clear
load 5m
  testhistogram_bucket{le="0.1", start="positive"} 0+5x10
  testhistogram_bucket{le=".2", start="positive"} 0+7x10
  testhistogram_bucket{le="1e0", start="positive"} 0+11x10
  testhistogram_bucket{le="+Inf", start="positive"} 0+12x10
  testhistogram_bucket{le="-.2", start="negative"} 0+1x10
  testhistogram_bucket{le="-0.1", start="negative"} 0+2x10
  testhistogram_bucket{le="0.3", start="negative"} 0+2x10
  testhistogram_bucket{le="+Inf", start="negative"} 0+3x10
  testhistogram2_bucket{le="0"} 0+0x10
  testhistogram2_bucket{le="2"} 0+1x10
  testhistogram2_bucket{le="4"} 0+2x10
  testhistogram2_bucket{le="6"} 0+3x10
  testhistogram2_bucket{le="+Inf"} 0+3x10
  testhistogram3_bucket{le="0", start="positive"} 0+0x10
  testhistogram3_bucket{le="0.1", start="positive"} 0+5x10
  testhistogram3_bucket{le=".2", start="positive"} 0+7x10
  testhistogram3_bucket{le="1e0", start="positive"} 0+11x10
  testhistogram3_bucket{le="+Inf", start="positive"} 0+11x10
  testhistogram3_bucket{le="-.25", start="negative"} 0+0x10
  testhistogram3_bucket{le="-.2", start="negative"} 0+1x10
  testhistogram3_bucket{le="-0.1", start="negative"} 0+2x10
  testhistogram3_bucket{le="0.3", start="negative"} 0+2x10
  testhistogram3_bucket{le="+Inf", start="negative"} 0+2x10
  nonmonotonic_bucket{le="0.1"} 0+2x10
  nonmonotonic_bucket{le="1"} 0+1x10
  nonmonotonic_bucket{le="10"} 0+5x10
  nonmonotonic_bucket{le="100"} 0+4x10
  nonmonotonic_bucket{le="1000"} 0+9x10
  nonmonotonic_bucket{le="+Inf"} 0+8x10
  mixed_bucket{job="job1", instance="ins1", le="0.1"} 0+1x10
  mixed_bucket{job="job1", instance="ins1", le="0.2"} 0+1x10
  mixed_bucket{job="job1", instance="ins1", le="2e-1"} 0+1x10
  mixed_bucket{job="job1", instance="ins1", le="2.0e-1"} 0+1x10
  mixed_bucket{job="job1", instance="ins1", le="+Inf"} 0+4x10
  mixed_bucket{job="job1", instance="ins2", le="+inf"} 0+0x10
  mixed_bucket{job="job1", instance="ins2", le="+Inf"} 0+0x10

eval instant at 50m histogram_quantile(0, testhistogram3_bucket)
  {start="positive"} 0
  {start="negative"} -0.25
eval instant at 50m histogram_quantile(0.25, testhistogram3_bucket)
  {start="positive"} 0.055
  {start="negative"} -0.225
eval instant at 50m histogram_quantile(0.5, testhistogram3_bucket)
  {start="positive"} 0.125
  {start="negative"} -0.2
eval instant at 50m histogram_quantile(0.75, testhistogram3_bucket)
  {start="positive"} 0.45
  {start="negative"} -0.15
eval instant at 50m histogram_quantile(1, testhistogram3_bucket)
  {start="positive"} 1
  {start="negative"} -0.1
eval instant at 50m histogram_quantile(-0.1, testhistogram_bucket)
  {start="positive"} -Inf
  {start="negative"} -Inf
  warn PromQL warning: quantile value should be between 0 and 1, got -0.1 (1:20)
eval instant at 50m histogram_quantile(1.01, testhistogram_bucket)
  {start="positive"} +Inf
  {start="negative"} +Inf
  warn PromQL warning: quantile value should be between 0 and 1, got 1.01 (1:20)
eval instant at 50m histogram_quantile(0, testhistogram_bucket)
  {start="positive"} 0
  {start="negative"} -0.2
eval instant at 50m histogram_quantile(1, testhistogram_bucket)
  {start="positive"} 1
  {start="negative"} 0.3
eval instant at 50m histogram_quantile(0.2, testhistogram_bucket)
  {start="positive"} 0.048
  {start="negative"} -0.2
eval instant at 50m histogram_quantile(0.5, testhistogram_bucket)
  {start="positive"} 0.15
  {start="negative"} -0.15
eval instant at 50m histogram_quantile(0.8, testhistogram_bucket)
  {start="positive"} 0.72
  {start="negative"} 0.3
eval instant at 7m histogram_quantile(1/6, testhistogram2_bucket)
  {} 1
eval instant at 7m histogram_quantile(0.5, testhistogram2_bucket)
  {} 3
eval instant at 7m histogram_quantile(5/6, testhistogram2_bucket)
  {} 5
eval instant at 50m histogram_fraction(0, 4, testhistogram2_bucket)
  {} 0.6666666666666666
eval instant at 50m histogram_fraction(0, 6, testhistogram2_bucket)
  {} 1
eval instant at 50m histogram_fraction(0, 3.5, testhistogram2_bucket)
  {} 0.5833333333333334
eval instant at 50m histogram_fraction(0, 0.2, testhistogram3_bucket)
  {start="positive"} 0.6363636363636364
  {start="negative"} 0
eval instant at 50m histogram_quantile(0.01, nonmonotonic_bucket)
  {} 0.0045
eval instant at 50m histogram_quantile(0.5, nonmonotonic_bucket)
  {} 8.5
eval instant at 50m histogram_quantile(0.99, nonmonotonic_bucket)
  {} 979.75
eval instant at 50m histogram_quantile(0.5, mixed_bucket)
  {instance="ins1", job="job1"} 0.15
  {instance="ins2", job="job1"} NaN
eval instant at 50m histogram_quantile(0.75, mixed_bucket)
  {instance="ins1", job="job1"} 0.2
  {instance="ins2", job="job1"} NaN
eval instant at 50m histogram_quantile(1, mixed_bucket)
  {instance="ins1", job="job1"} 0.2
  {instance="ins2", job="job1"} NaN

# label_replace cases from Prometheus' functions.test.
clear
load 5m
  testmetric{src="source-value-10",dst="original-destination-value"} 0
  testmetric{src="source-value-20",dst="original-destination-value"} 1
eval instant at 0m label_replace(testmetric, "dst", "destination-value-$1", "src", "source-value-(.*)")
  testmetric{src="source-value-10",dst="destination-value-10"} 0
  testmetric{src="source-value-20",dst="destination-value-20"} 1
eval instant at 0m label_replace(testmetric, "dst", "destination-value-$1", "src", "value-(.*)")
  testmetric{src="source-value-10",dst="original-destination-value"} 0
  testmetric{src="source-value-20",dst="original-destination-value"} 1
eval instant at 0m label_replace(testmetric, "dst", "$1-value-$2", "src", "(.*)-value-(.*)")
  testmetric{src="source-value-10",dst="source-value-10"} 0
  testmetric{src="source-value-20",dst="source-value-20"} 1
eval instant at 0m label_replace(testmetric, "dst", "value-$1", "nonexistent-src", "source-value-(.*)")
  testmetric{src="source-value-10",dst="original-destination-value"} 0
  testmetric{src="source-value-20",dst="original-destination-value"} 1
eval instant at 0m label_replace(testmetric, "dst", "value-$1", "nonexistent-src", "(.*)")
  testmetric{src="source-value-10",dst="value-"} 0
  testmetric{src="source-value-20",dst="value-"} 1
eval instant at 0m label_replace((((testmetric))), (("dst")), (("value-$1")), (("src")), (("non-matching-regex")))
  testmetric{src="source-value-10",dst="original-destination-value"} 0
  testmetric{src="source-value-20",dst="original-destination-value"} 1
eval instant at 0m label_replace(testmetric, "dst", "", "dst", ".*")
  testmetric{src="source-value-10"} 0
  testmetric{src="source-value-20"} 1
eval_fail instant at 0m label_replace(testmetric, "dst", "value-$1", "src", "(.*")
  error invalid regular expression in label_replace()
eval_fail instant at 0m label_replace(testmetric, "src", "", "", "")
  error vector cannot contain metrics with the same labelset
`;

describe('instant functions: engine cases', () => {
  const cases = parseCaseFile('instant-functions', CASES);
  for (const c of cases) {
    if (c.skip !== undefined) it.skip(`${caseTitle(c)} [skipped: ${c.skip}]`, () => {});
    else it(caseTitle(c), () => runCase(c));
  }
});

function makeCtx(stepCount: number, data = new MemoryQuerier([])): EvalContext {
  return new EvalContext(data, 0, (stepCount - 1) * 15_000, 15_000, stepCount, 300_000, 1_000_000, 10_000, 10_000, undefined);
}

function col(labels: Record<string, string>, values: (number | undefined)[]): StepSeries {
  const v = new Float64Array(values.length);
  const p = new Uint8Array(values.length);
  values.forEach((x, k) => {
    if (x !== undefined) {
      v[k] = x;
      p[k] = 1;
    }
  });
  return { labels: labelsFromRecord(labels), values: v, present: p };
}

function callOf(expr: string): Call {
  const ast = parseExpr(expr);
  if (ast.kind !== 'Call') throw new Error(`${expr} is not a call`);
  return ast;
}

function namesOf(series: StepSeries[], label: string): string[] {
  return series.map((s) => s.labels.find((l) => l.name === label)?.value ?? '');
}

describe('sort functions order an instant result', () => {
  const input = [col({ i: 'a' }, [3]), col({ i: 'b' }, [NaN]), col({ i: 'c' }, [1]), col({ i: 'd' }, [NaN]), col({ i: 'e' }, [3]), col({ i: 'f' }, [undefined]), col({ i: 'g' }, [-Infinity])];

  test.each([
    ['sort(x)', ['g', 'c', 'a', 'e', 'd', 'b']],
    ['sort_desc(x)', ['a', 'e', 'c', 'g', 'd', 'b']],
  ])('%s: numbers stably ordered, NaN last (Go insertion-sort order), absent dropped', (expr, want) => {
    const v = evalInstantFunction(callOf(expr), [{ type: 'vector', series: input }], makeCtx(1));
    expect(v.type).toBe('vector');
    if (v.type === 'vector') expect(namesOf(v.series, 'i')).toEqual(want);
  });

  test('sort_by_label uses natural order, then the full label set; _desc reverses both', () => {
    const s = [col({ n: 'x10', k: '1' }, [1]), col({ n: 'x9', k: '1' }, [1]), col({ n: 'x10', k: '0' }, [1]), col({ k: '5' }, [1])];
    const asc = evalInstantFunction(callOf('sort_by_label(x, "n")'), [{ type: 'vector', series: s }, { type: 'string', value: 'n' }], makeCtx(1));
    const desc = evalInstantFunction(callOf('sort_by_label_desc(x, "n")'), [{ type: 'vector', series: s }, { type: 'string', value: 'n' }], makeCtx(1));
    if (asc.type !== 'vector' || desc.type !== 'vector') throw new Error('expected vectors');
    expect(asc.series.map((x) => `${namesOf([x], 'n')[0]}/${namesOf([x], 'k')[0]}`)).toEqual(['/5', 'x9/1', 'x10/0', 'x10/1']);
    expect(desc.series.map((x) => `${namesOf([x], 'n')[0]}/${namesOf([x], 'k')[0]}`)).toEqual(['x10/1', 'x10/0', 'x9/1', '/5']);
  });

  test('over a range the input comes back unchanged', () => {
    const s = [col({ i: 'a' }, [3, 1]), col({ i: 'b' }, [1, 3])];
    const v = evalInstantFunction(callOf('sort(x)'), [{ type: 'vector', series: s }], makeCtx(2));
    if (v.type !== 'vector') throw new Error('expected vector');
    expect(v.series).toEqual(s);
  });

  test('instantResultIsOrdered: sort at the top, under parentheses and order-preserving functions', () => {
    expect(instantResultIsOrdered(parseExpr('sort(x)'))).toBe(true);
    expect(instantResultIsOrdered(parseExpr('(sort_desc(x))'))).toBe(true);
    expect(instantResultIsOrdered(parseExpr('abs(sort_by_label(x, "a"))'))).toBe(true);
    expect(instantResultIsOrdered(parseExpr('label_replace(sort(x), "a", "b", "c", "d")'))).toBe(true);
    expect(instantResultIsOrdered(parseExpr('x'))).toBe(false);
    expect(instantResultIsOrdered(parseExpr('abs(x)'))).toBe(false);
    expect(instantResultIsOrdered(parseExpr('sum(sort(x))'))).toBe(false);
  });
});

describe('sort functions through the evaluator (cases of Prometheus functions.test)', () => {
  const T = 50 * 60_000;
  const hr = (job: string, instance: string, group: string, v: number) => series({ __name__: 'http_requests', job, instance, group }, [[T, v]]);
  const q = new MemoryQuerier([
    hr('api-server', '0', 'production', 100),
    hr('api-server', '1', 'production', 200),
    hr('api-server', '0', 'canary', 300),
    hr('api-server', '1', 'canary', 400),
    hr('api-server', '2', 'canary', NaN),
    hr('app-server', '0', 'production', 500),
    hr('app-server', '1', 'production', 600),
    hr('app-server', '0', 'canary', 700),
    hr('app-server', '1', 'canary', 800),
    ...['0', '1', '2', '3', '10', '11', '12', '20', '21', '100'].map((cpu) => series({ __name__: 'cpu_time_total', job: 'cpu', cpu }, [[T, 100]])),
    series({ __name__: 'node_uname_info', job: 'node_exporter', instance: '4m600', release: '1.2.3' }, [[T, 100]]),
    series({ __name__: 'node_uname_info', job: 'node_exporter', instance: '4m5', release: '1.11.3' }, [[T, 100]]),
    series({ __name__: 'node_uname_info', job: 'node_exporter', instance: '4m1000', release: '1.111.3' }, [[T, 100]]),
  ]);
  const order = async (expr: string): Promise<string[]> => {
    const ctx = new EvalContext(q, T, T, 1, 1, 300_000, 1_000_000, 10_000, 10_000, undefined);
    const v = await evaluate(parseExpr(expr), ctx);
    if (v.type !== 'vector') throw new Error(`expected a vector, got ${v.type}`);
    return v.series.filter((s) => s.present[0] === 1).map((s) => s.labels.filter((l) => l.name !== '__name__' && (l.name !== 'job' || expr.includes('"job"'))).map((l) => l.value).join('/'));
  };

  test('sort: ascending, NaN last', async () => {
    expect(await order('sort(http_requests)')).toEqual(['production/0', 'production/1', 'canary/0', 'canary/1', 'production/0', 'production/1', 'canary/0', 'canary/1', 'canary/2']);
  });
  test('sort_desc: descending, NaN last', async () => {
    expect(await order('sort_desc(http_requests)')).toEqual(['canary/1', 'canary/0', 'production/1', 'production/0', 'canary/1', 'canary/0', 'production/1', 'production/0', 'canary/2']);
  });
  test('sort_by_label with several labels', async () => {
    expect(await order('sort_by_label(http_requests, "group", "instance", "job")')).toEqual([
      'canary/0/api-server',
      'canary/0/app-server',
      'canary/1/api-server',
      'canary/1/app-server',
      'canary/2/api-server',
      'production/0/api-server',
      'production/0/app-server',
      'production/1/api-server',
      'production/1/app-server',
    ]);
  });
  test('sort_by_label_desc: labels then the full label set reversed', async () => {
    expect(await order('sort_by_label_desc(http_requests, "instance", "job")')).toEqual([
      'canary/2/api-server',
      'production/1/app-server',
      'canary/1/app-server',
      'production/1/api-server',
      'canary/1/api-server',
      'production/0/app-server',
      'canary/0/app-server',
      'production/0/api-server',
      'canary/0/api-server',
    ]);
  });
  test('sort_by_label is natural: numbers inside values compare by value', async () => {
    expect(await order('sort_by_label(cpu_time_total, "cpu")')).toEqual(['0', '1', '2', '3', '10', '11', '12', '20', '21', '100']);
    expect((await order('sort_by_label(node_uname_info, "instance")')).map((x) => x.split('/')[0])).toEqual(['4m5', '4m600', '4m1000']);
    expect((await order('sort_by_label(node_uname_info, "release")')).map((x) => x.split('/')[1])).toEqual(['1.2.3', '1.11.3', '1.111.3']);
  });
});

describe('timestamp() of a vector selector', () => {
  const q = new MemoryQuerier([series({ __name__: 'm', a: '1' }, [[10_000, 5], [20_000, 6], [40_000, 'stale']]), series({ __name__: 'm', a: '2' }, [[31_000, 1]])]);

  test('timestampSelectorArg finds the selector through parentheses only', () => {
    expect(timestampSelectorArg(callOf('timestamp((m))'))?.kind).toBe('VectorSelector');
    expect(timestampSelectorArg(callOf('timestamp(abs(m))'))).toBeUndefined();
    expect(timestampSelectorArg(callOf('abs(m)'))).toBeUndefined();
  });

  test('is the picked sample time per step, name dropped, stale marker respected', async () => {
    const call = callOf('timestamp(m)');
    const vs = timestampSelectorArg(call)!;
    const out = await evalTimestampOverSelector(makeCtx(4, q), vs);
    const byA = Object.fromEntries(out.map((s) => [s.labels.map((l) => `${l.name}=${l.value}`).join(','), Array.from(s.values).map((v, k) => (s.present[k] ? v : null))]));
    // Steps at 0, 15, 30, 45 s.
    expect(byA).toEqual({ 'a=1': [null, 10, 20, null], 'a=2': [null, null, null, 31] });
  });

  test('with @ the lookup is at the @ time over the offset window (Prometheus issue 8433 quirk)', async () => {
    const q2 = new MemoryQuerier([series({ __name__: 'm' }, [[10_000, 1]])]);
    const at = async (expr: string): Promise<number[]> => {
      const out = await evalTimestampOverSelector(makeCtx(1, q2), timestampSelectorArg(callOf(expr))!);
      return out.map((s) => s.values[0]!);
    };
    // Plain offset: window (300s - 300s, 300s] holds the sample at 10s.
    expect(await at('timestamp(m offset -300s)')).toEqual([10]);
    // @ 400 offset 100s reads up to 300s but checks the lookback from 400s: (100s, 300s] is empty.
    expect(await at('timestamp(m @ 400 offset 100s)')).toEqual([]);
    expect(await at('timestamp(m @ 300)')).toEqual([10]);
    expect(await at('timestamp(m @ 20 offset 10s)')).toEqual([10]);
  });

  test('evalInstantFunction refuses it rather than answer the step time', () => {
    expect(() => evalInstantFunction(callOf('timestamp(m)'), [{ type: 'vector', series: [] }], makeCtx(1))).toThrow(MochaError);
  });
});

describe('Go-compatible helpers', () => {
  test('log2 is exact on powers of two and log10 follows Go (log2 * Ln2/Ln10)', () => {
    for (let e = -1074; e <= 1023; e += 7) expect(goLog2(2 ** e)).toBe(e);
    expect(goLog2(0)).toBe(-Infinity);
    expect(goLog2(-1)).toBeNaN();
    expect(goLog2(Infinity)).toBe(Infinity);
    expect(goLog10(100)).toBe(2);
    expect(goLog10(1e-300)).toBe(-300);
    expect(goLog10(3)).toBe(0.4771212547196625); // Math.log10 gives ...244
  });

  test('natsort compares digit runs by value, leading zeros skipped', () => {
    expect(natsortLess('x9', 'x10')).toBe(true);
    expect(natsortLess('x10', 'x9')).toBe(false);
    expect(natsortLess('a', 'b')).toBe(true);
    expect(natsortLess('a', 'a')).toBe(false);
    expect(natsortLess('', 'a')).toBe(true);
    expect(natsortLess('a2b', 'a2c')).toBe(true);
    expect(natsortLess('v007', 'v8')).toBe(true);
  });

  test('ParseFloat accepts what Go accepts', () => {
    expect(parseGoFloat('+Inf')).toBe(Infinity);
    expect(parseGoFloat('-inf')).toBe(-Infinity);
    expect(parseGoFloat('Infinity')).toBe(Infinity);
    expect(parseGoFloat('NaN')).toBeNaN();
    expect(parseGoFloat('0.25')).toBe(0.25);
    expect(parseGoFloat('.5')).toBe(0.5);
    expect(parseGoFloat('1.')).toBe(1);
    expect(parseGoFloat('1e3')).toBe(1000);
    for (const bad of ['', ' 1', '1 ', 'infin', '+nan', '1_000', 'abc', '1e400', '--1']) expect(parseGoFloat(bad), bad).toBeUndefined();
  });

  test('BucketQuantile ignores deltas below 1e-12 relative before forcing monotonicity', () => {
    const bounds = new Float64Array([1, 2, 3, Infinity]);
    // 100 + 1e-10 after 100 is noise: absorbed, so a rank just above 100 lands in (2, 3], not (1, 2].
    expect(bucketQuantile(0.2500000000001, bounds.slice(), new Float64Array([100, 100 + 1e-10, 300, 400]), 4)).toBeCloseTo(2, 9);
    expect(bucketQuantile(0.2500000000001, bounds.slice(), new Float64Array([100, 100 + 1e-6, 300, 400]), 4)).toBeCloseTo(1.00004, 6);
    // A real decrease is flattened: 10, 25, 20 -> 10, 25, 25.
    expect(bucketQuantile(0.6, bounds.slice(), new Float64Array([10, 25, 20, 40]), 4)).toBeCloseTo(1 + 14 / 15, 12);
  });

  test('BucketFraction with a non-positive first bucket counts it whole', () => {
    const bounds = new Float64Array([-1, 0, Infinity]);
    expect(bucketFraction(-2, 0, bounds.slice(), new Float64Array([10, 20, 20]), 3)).toBe(0.5);
  });

  test('date functions agree with the proleptic Gregorian calendar of JS Date', () => {
    const rnd = mulberry32(42);
    const names = ['year', 'month', 'day_of_month', 'day_of_week', 'day_of_year', 'hour', 'minute'] as const;
    for (let i = 0; i < 2000; i++) {
      // Up to ±8.6e12 s (JS Date's range), integers and fractions.
      const seconds = (rnd() * 2 - 1) * 8.6e12 * (i % 3 === 0 ? 1e-4 : 1);
      const whole = Math.trunc(seconds);
      const d = new Date(whole * 1000);
      const start = Date.UTC(d.getUTCFullYear(), 0, 1);
      const want = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCDay(), Math.round((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - start) / 86_400_000) + 1, d.getUTCHours(), d.getUTCMinutes()];
      expect(names.map((n) => dateFunctionOf(n, seconds)), String(seconds)).toEqual(want);
      expect(dateFunctionOf('days_in_month', seconds)).toBe(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate());
    }
    // Beyond JS Date: int64 seconds saturate; +Inf is Go's year 292277026596.
    expect(dateFunctionOf('year', Infinity)).toBe(292277026596);
  });

  test('hasInstantFunction covers the functions of this module and nothing of the range ones', () => {
    for (const n of ['abs', 'round', 'clamp', 'label_join', 'histogram_quantile', 'histogram_fraction', 'absent', 'sort_by_label_desc', 'days_in_month', 'pi']) expect(hasInstantFunction(n), n).toBe(true);
    for (const n of ['rate', 'absent_over_time', 'histogram_count', 'info']) expect(hasInstantFunction(n), n).toBe(false);
  });
});
