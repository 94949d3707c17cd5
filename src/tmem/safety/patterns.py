"""The detector's patterns: data, one entry per sign of an injected instruction.

Each :class:`Sign` has a reason code, a regular expression matched against the text's skeleton
(see ``skeleton.py``) and a weight. A text is flagged when the weights of its distinct codes sum
to at least 1: a *strong* sign (1.0) flags on its own, a *weak* one (0.5) needs another sign.
Weak signs are those ordinary chat also produces ("from now on I'll…", "never tell mum", a
link, "my password").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STRONG = 1.0
WEAK = 0.5


@dataclass(frozen=True)
class Sign:
    code: str
    pattern: re.Pattern[str]
    weight: float


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE | re.MULTILINE)


# Who an injected instruction talks to.
AUDIENCE = (
    r"(?:ai|a\.i\.|assistant|chat ?bot|bot|llm|language model|(?:answering |ai )?model|"
    r"(?:ai )?agents?|gpt|chatgpt|claude|gemini|copilot|siri|alexa|memory (?:system|assistant)|"
    r"automated (?:screeners?|systems?)|(?:ai )?systems?)"
)
# What an instruction tells it to do.
DIRECTIVE = (
    r"(?:must|should|shall|need to|have to|always|never|ignore|disregard|forget|tell|say|answer|"
    r"respond|reply|forward|send|recommend|remember|store|treat|include|reveal|print|output|"
    r"delete|stop|do not|don'?t|please|kindly|rate|rank|run|state|accept|book|transfer|"
    r"request|ask|use|overwrite|give|summari[sz]e|mention|collect|show|display|render)"
)
ANSWER_VERB = (
    r"(?:answer|reply|respond|say|tell|recommend|mention|refer|suggest|state|claim|give|reveal|"
    r"output|send|direct|include|end|report|insist)"
)
INSTRUCTION_NOUN = (
    r"(?:instructions?|directives?|rules|prompts?|guidelines|guidance|context|memor(?:y|ies)|"
    r"polic(?:y|ies)|constraints|programming|orders|commands|system prompt|training|requests)"
)
CREDENTIAL = (
    r"(?:passwords?|passcodes?|pin|cvv|api[_ ]?keys?|access tokens?|tokens?|one-time codes?|otp|"
    r"stored\s+memories|memories\s+about\s+the\s+user|(?:the\s+)?user'?s\s+memories|"
    r"credentials?|secrets?|social security numbers?|ssn|credit card(?: numbers?)?|"
    r"bank(?:ing)? (?:details|pin|password)|login details)"
)

OVERRIDE = Sign(
    "override",
    _rx(
        rf"\b(?:ignore|disregard|forget|override|bypass|skip|discard|drop|abandon|cancel)\b[^.\n]{{0,30}}?"
        rf"\b(?:previous|prior|above|earlier|preceding|original|initial|old|your|all|system|the)\b"
        rf"[^.\n]{{0,20}}?\b{INSTRUCTION_NOUN}",
        r"\b(?:ignore|disregard)\s+(?:everything\s+|all\s+|the\s+)?(?:above|before|prior)\b",
        r"\bforget\s+(?:everything|all)\s+(?:you\s+(?:were|have been|know)|above|before|prior)",
        rf"\b(?:previous|prior|earlier|old|original)\s+{INSTRUCTION_NOUN}\s+(?:are|is)\s+"
        r"(?:void|cancell?ed|outdated|revoked|obsolete|no longer)",
        r"\bpretend\s+(?:your|the)\s+instructions\b",
        r"\bnew\s+(?:instructions|rules|policy|directive)\s*(?::|for\s+(?:the\s+)?(?:ai|assistant|model|answering))",
        r"\bpriority\s+(?:1\s+)?(?:override|directive)",
        # French, Spanish, Italian, Portuguese, German, Dutch, Polish, Turkish, Russian
        r"\b(?:ignorez|ignore|ignorer|oublie|oubliez)\s+(?:toutes\s+)?(?:les|tes|vos)\s+(?:instructions|consignes|r[eè]gles)",
        r"\b(?:ignora|ignore|olvida|olvide)\s+(?:todas\s+)?(?:las|tus|sus)\s+(?:instrucciones|reglas|indicaciones)",
        r"\b(?:olvida|ignora)\s+tus\s+\w*\s*(?:instrucciones|reglas)",
        r"\b(?:ignora|dimentica)\s+(?:tutte\s+)?(?:le\s+)?(?:istruzioni|regole)",
        r"\b(?:ignore|esque[cç]a)\s+(?:todas\s+)?(?:as\s+|suas\s+)?(?:instru[cç][oõ]es|regras)",
        r"\b(?:ignoriere|ignorier|vergiss)\s+(?:alle\s+)?(?:deine\s+|die\s+|vorherigen\s+|bisherigen\s+)*(?:anweisungen|instruktionen|regeln|vorgaben)",
        r"\b(?:negeer|vergeet)\s+(?:alle\s+)?(?:vorige\s+|eerdere\s+|je\s+)?(?:instructies|regels)",
        r"\b(?:zignoruj|ignoruj)\s+(?:wszystkie\s+)?(?:poprzednie\s+)?(?:instrukcje|polecenia)",
        r"talimatlar[ıi]\s+(?:yok\s+say|g[öo]rmezden\s+gel|unut)",
        r"(?:игнорируй|игнорируйте|забудь|забудьте)\s+(?:все\s+)?(?:свои\s+|предыдущие\s+)*(?:инструкции|указания|правила)",
        # Chinese, Japanese, Korean
        r"(?:忽略|无视|忽视|忘记|忘掉)(?:之前|以上|前面|先前|上面|所有|你)?的?(?:所有)?(?:指令|指示|说明|规则)",
        r"(?:以前|前|これまで)の(?:指示|命令|ルール).{0,8}(?:無視|忘れ)",
        r"(?:이전|앞의).{0,6}(?:지시|명령|지침).{0,6}무시",
    ),
    STRONG,
)

ROLE_SWITCH = Sign(
    "role_switch",
    _rx(
        r"\byou\s+are\s+now\s+(?:dan\b|an?\s+(?:unfiltered|unrestricted|uncensored|different|new|evil|jailbroken)|"
        r"in\s+\w+\s+mode|my\s+(?:agent|assistant|servant)|a\s+pirate)",
        r"\byou\s+are\s+(?:no\s+longer\s+(?:bound|restricted|a\s+helpful)|now\s+an?\s+\w+\s+(?:ai|assistant|that))",
        r"\bdo\s+anything\s+now\b",
        r"\b(?:developer|god|jailbreak|dan)\s+mode\s+(?:on|enabled|activated)",
        r"\bjailbreak\b",
        r"\bstop\s+being\s+a\s+helpful\s+assistant",
        r"\byou\s+(?:now\s+)?work\s+for\s+me\b",
        r"\bi\s+(?:order|command|instruct)\s+you\s+to\b",
        r"(?:你现在是|从现在开始[，,]?\s*你)",
        r"\bdu\s+bist\s+jetzt\s+ein\s+(?:anderer|neuer)",
        r"\bahora\s+eres\s+un",
    ),
    STRONG,
)

ROLE_MARKER = Sign(
    "role_marker",
    _rx(
        r"<\|\s*(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|end)\s*\|>",
        r"\[/?INST\]",
        r"<</?SYS>>",
        r"</?\s*(?:system|system_prompt|instructions?|assistant-instruction|prompt)\s*>",
        r"</\s*(?:memory|memories|evidence|context|document|data)\s*>",
        r"^\s*#{2,}\s*(?:instruction|system|response)\s*:",
        r"^\s*(?:system|developer)\s*(?:message|prompt)?\s*:",
        r"^\s*(?:human|user)\s*:.*\n\s*assistant\s*:",
        r"^\s*assistant\s*:.*\n\s*(?:human|user)\s*:",
        r"\"role\"\s*:\s*\"(?:system|developer|assistant)\"",
        r"^\s*role\s*:\s*system\b",
        r"\[system\]\(#",
        r"\bsystem\s+(?:message|override|prompt)\s*[:\]]",
        r"\[system\s+override\]",
        r"\bend\s+of\s+conversation\b.{0,40}\bsystem\b",
        r"системное\s+сообщение",
    ),
    STRONG,
)

PROMPT_LEAK = Sign(
    "prompt_leak",
    _rx(
        r"\b(?:reveal|print|show|repeat|output|display|leak|dump)\b[^.\n]{0,20}\b(?:system\s+prompt|"
        r"(?:your|the)\s+(?:full\s+|original\s+|initial\s+)?(?:instructions|prompt)|"
        r"(?:full\s+)?conversation\s+(?:history|log))",
        r"\b(?:mostra|révèle|revele|zeig|muestra|mostre)\b.{0,20}\b(?:prompt|instructions)",
    ),
    STRONG,
)

ANSWER_RULE = Sign(
    "answer_rule",
    _rx(
        # "when asked about X, (always) say Y" with no subject before the verb
        r"\b(?:when(?:ever)?|if)\b[^.\n]{0,20}?\b(?:asked|asks|ask|questioned)\b[^.\n]{0,60}?,\s*"
        rf"(?:(?:always|just|then|you\s+(?:should|must|will))\s+)?{ANSWER_VERB}\b",
        r"\b(?:when(?:ever)?|if)\b[^.\n]{0,20}?\b(?:asked|asks|questioned)\b[^.\n]{0,60}?\b(?:the\s+answer\s+is|answer\s+with|reply\s+with|respond\s+with)",
        rf"(?:^|[.!?:]\s+|\b(?:please|and)\s+)(?:always|never)\s+{ANSWER_VERB}\b[^.\n]{{0,60}}?"
        r"\b(?:questions?|asked|asking|answers?|repl(?:y|ies)|responses?|the\s+user|anyone|whoever|"
        r"every|memor(?:y|ies)|no\s+matter|even\s+if|in\s+any)\b",
        rf"\b(?:every|each|all|any)\s+(?:future\s+)?(?:answer|reply|replies|response|question)s?\b[^.\n]{{0,30}}\b{ANSWER_VERB}",
        r"\b(?:in|with|to)\s+(?:every|each|all|any)\s+(?:future\s+)?(?:answer|reply|replies|response|question)s?\b",
        rf"\b(?:when(?:ever)?|if)\b[^.\n]{{0,60}}?\b(?:comes?\s+up|is\s+(?:mentioned|raised|discussed))\s*,\s*"
        rf"(?:always\s+)?{ANSWER_VERB}\b",
        r"\b(?:end|start|begin)\s+(?:your|all|every)\s+(?:answers?|replies|responses)\b",
        rf"\bremember\s+to\s+(?:always|never)\s+{ANSWER_VERB}\b",
        r"\b(?:wenn\s+du\s+nach\b.{0,40}\bgefragt\s+wirst|se\s+te\s+perguntarem\b.{0,40}\bresponda|"
        r"cuando\s+te\s+pregunten\b.{0,40}\bresponde)",
        r"\bab\s+jetzt\s+(?:antwortest|sagst)\s+du",
        r"\b(?:à|a)\s+partir\s+de\s+maintenant\s*,?\s*(?:r[ée]ponds|dis|tu\s+)",
        r"\bde\s+ahora\s+en\s+adelante\b.{0,60}\b(?:responde|di|contesta)\b",
        r"(?:これからは|今後は).{0,20}(?:答えて|回答して|話して)",
        r"(?:从现在开始|今后).{0,10}(?:只能|必须|总是)?(?:回答|回复|说)",
    ),
    STRONG,
)

PERSISTENT = Sign(
    "persistent_rule",
    _rx(
        r"\b(?:from\s+now\s+on|going\s+forward|henceforth|from\s+(?:today|this\s+(?:message|point))\s+on|"
        r"for\s+all\s+future\s+(?:conversations|chats|sessions|answers)|permanent\s+rule|"
        r"remember\s+this\s+forever|for\s+the\s+rest\s+of\s+(?:time|the\s+conversation))\b"
        r"\s*,?\s*(?:you\b|always\b|never\b|respond|answer|reply|whenever|when\b|if\b|recommend|say\b|"
        r"tell\b|refer|treat|only\b|do\s+not|don'?t|the\s+user|the\s+assistant|:)",
        r"\b(?:store|save|keep|record|treat)\s+(?:this|that|it)\s+as\s+(?:a\s+)?(?:permanent|fact|rule|the\s+truth)",
        r"\b(?:update|overwrite)\s+(?:your|the\s+user'?s?|my)\s+memor(?:y|ies)\b",
        r"\bmemory\s+(?:rule|update|override)\b",
        r"\bnote\s+to\s+(?:the\s+)?memory\s+system\b",
    ),
    STRONG,
)

PERSISTENT_WEAK = Sign(
    "persistent_rule",
    _rx(r"\b(?:from\s+now\s+on|going\s+forward|henceforth|from\s+today\s+on|for\s+all\s+future)\b"),
    WEAK,
)

IMPERATIVE_RULE = Sign(
    "answer_rule",
    _rx(
        r"\bwhen\s+you\s+(?:answer|reply|respond)\b",
        rf"(?:^|[.!?:]\s+)(?:always|never)\s+{ANSWER_VERB}\b",
        rf"\byou\s+(?:should|must|will|need\s+to)\s+(?:always\s+|never\s+|now\s+)?{ANSWER_VERB}\b",
    ),
    WEAK,
)

ABOUT_USER = Sign(
    "directive_about_user",
    _rx(
        r"\b(?:tell|ask|remind|inform|warn|convince|persuade)\s+(?:the\s+)?users?\b",
        r"\bthe\s+user'?s?\s+(?:real|actual|true|new)\b",
        r"\bthe\s+user\s+(?:has\s+)?(?:agreed|authori[sz]ed|waived|owes|must)\b",
    ),
    WEAK,
)

CREDENTIAL_REQUEST = Sign(
    "credential_request",
    _rx(
        r"\b(?:send|give|share|forward|include|reveal|print|output|provide|request|collect|confirm|"
        r"type|reply\s+with|post|email|append|encode|ask\s+(?:the\s+user|them)\s+(?:for|to\s+\w+))\b"
        rf"[^.\n]{{0,25}}?\b(?:the\s+user'?s?|their|every|all|any|the|stored)\s+(?:\w+\s+){{0,2}}?{CREDENTIAL}\b",
    ),
    STRONG,
)

URL_ACTION = Sign(
    "url_action",
    _rx(
        r"!\[[^\]]*\]\(\s*https?://[^)\s]*\?[^)]*\)",
        r"\b(?:include|append|render|embed|display|send|post|encode)\b[^.\n]{0,40}(?:https?://|www\.|webhook)",
        r"(?:https?://\S+)[^.\n]{0,40}\b(?:every|each)\s+(?:reply|answer|response)",
        r"\b(?:log\s*in|login|sign\s+in|verify|reset|renew|confirm)\b[^.\n]{0,30}\b(?:at|on|via|here:?)\s+"
        r"(?:https?://|www\.|[\w-]+\.(?:com|net|org|io|co|biz|xyz|site)\b)",
    ),
    WEAK,
)

DECODE_AND_OBEY = Sign(
    "encoded_payload",
    _rx(
        r"\b(?:decode|base64|rot-?13|hex|decipher|decrypt|reverse)\b[^.\n]{0,40}\b(?:follow|obey|execute|run|do\s+what|apply)",
        r"\b(?:apply|use)\s+rot-?13\b",
    ),
    STRONG,
)

HIDDEN_MARKUP = Sign(
    "hidden_markup",
    _rx(
        r"<!--",
        r"display\s*:\s*none",
        r"visibility\s*:\s*hidden",
        r"font-size\s*:\s*0(?:\.0*)?(?:px|pt|em)?\s*[;\"']",
        r"opacity\s*:\s*0(?:\.0*)?\s*[;\"']",
        r"color\s*[:=]\s*[\"']?(?:white|#fff(?:fff)?)\b",
        r"<\w+[^>]*\shidden\b",
        r"^\[//\]:\s*#",
        r"<details>",
        r"<img\b[^>]*\balt\s*=",
    ),
    WEAK,
)

SIGNS: tuple[Sign, ...] = (
    OVERRIDE,
    ROLE_SWITCH,
    ROLE_MARKER,
    PROMPT_LEAK,
    ANSWER_RULE,
    PERSISTENT,
    PERSISTENT_WEAK,
    IMPERATIVE_RULE,
    ABOUT_USER,
    CREDENTIAL_REQUEST,
    URL_ACTION,
    DECODE_AND_OBEY,
    HIDDEN_MARKUP,
)

# A phrase that talks to a model, strong when a directive follows within a few words.
ADDRESSED = _rx(
    rf"\b(?:hey|hi|dear|attention|note\s+(?:to|for)|p\.?s\.?\s+to|for|to|important\s+for)\s+"
    rf"(?:the\s+|any\s+|all\s+|my\s+)?{AUDIENCE}s?\b",
    rf"(?:^|[.!?(\[>'\"“‘]\s*|<!--\s*|\n)(?:ai\s+assistant|{AUDIENCE}|assistente|assistant)\s*[,:]",
)
# A phrase that can only be aimed at a model: strong on its own.
ADDRESSED_ALONE = _rx(
    rf"\b{AUDIENCE}s?\s+(?:reading|processing|summari[sz]ing|that\s+reads?|which\s+reads?)\s+"
    r"(?:this|these|my|the\s+following)\b",
    r"\bif\s+you(?:'re|\s+are)\s+(?:an?\s+)?(?:ai|language\s+model|llm|bot|chatbot|assistant|automated)\b",
)
ADDRESSED_WEIGHT = STRONG
DIRECTIVE_AFTER = re.compile(rf"\b{DIRECTIVE}\b", re.IGNORECASE)
DIRECTIVE_WINDOW = 80

HIDDEN_TEXT_WEIGHT = STRONG
ENCODED_WEIGHT = STRONG

CODES: tuple[str, ...] = (
    "override",
    "role_switch",
    "role_marker",
    "prompt_leak",
    "answer_rule",
    "persistent_rule",
    "directive_about_user",
    "credential_request",
    "url_action",
    "encoded_payload",
    "hidden_markup",
    "hidden_text",
    "addressed_to_model",
)
