-- Referrers are kept without their query string or fragment (capture drops them since this
-- version): where a visitor came from, not what they searched for or which of their ids the
-- referring site put in its URLs. Clicks logged before keep only what precedes '?' or '#'.
UPDATE clicks SET referrer = substr(referrer, 1, instr(referrer, '#') - 1) WHERE instr(referrer, '#') > 0;
UPDATE clicks SET referrer = substr(referrer, 1, instr(referrer, '?') - 1) WHERE instr(referrer, '?') > 0;
