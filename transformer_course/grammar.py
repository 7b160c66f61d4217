"""The English → Korean grammar of the final lesson (shared/toy-translation.md), as data.

The lexicon and the rules are tables of frozen dataclasses. A sentence is a small
tree (``Copula``, ``Clause`` or ``Because``) that renders to English with
``english`` and to Korean with ``korean``; ``parse`` reads English back into the
tree, and ``translate`` is the two together. Every sentence the grammar covers has
exactly one translation; anything else raises ``ValueError`` naming the first word
or construction that is not covered.

>>> translate("the cat sat on the mat because it was soft")
'매트 가 부드러워서 고양이 는 그 위 에 앉았다'
"""

from dataclasses import dataclass
from typing import Literal

# Noun classes. "Animate" is person or animal.
PERSON, ANIMAL, FURNITURE, OBJECT, FOOD, PLANT = ("person", "animal", "furniture", "object", "food", "plant")
CLASSES = (PERSON, ANIMAL, FURNITURE, OBJECT, FOOD, PLANT)
ANIMATE = frozenset({PERSON, ANIMAL})
ANY_CLASS = frozenset(CLASSES)


@dataclass(frozen=True)
class Noun:
    english: str
    korean: str
    cls: str


@dataclass(frozen=True)
class Category:
    """A noun used only after "is": "the rose is a flower"."""

    english: str
    korean: str
    article: Literal["a", "an", ""]
    members: frozenset[str]  # the nouns (English) for which "the N is a C" is true


@dataclass(frozen=True)
class Adjective:
    """One translation of an attributive adjective, for the noun classes it goes with."""

    english: str
    korean: str
    classes: frozenset[str]


@dataclass(frozen=True)
class Verb:
    """A verb's English forms, its Korean, and what it combines with.

    A single subject takes ``present`` ("eats"); a joined subject takes ``base``
    ("eat"), which is also the form after "do/does/did not".
    """

    base: str
    present: str
    past: str
    ing: str | None  # None where the progressive is not used
    stem: str  # negation adds 지, the progressive 고: 먹지 않는다, 먹고 있다
    korean_present: str
    korean_past: str
    subjects: frozenset[str]  # noun classes
    subject_text: str  # for error messages: what the subject must be
    objects: frozenset[str] = frozenset()  # nouns (English) allowed as the object
    places: frozenset[str] = frozenset()  # nouns allowed after "on"
    complement_text: str = ""
    place_required: bool = False
    place_words: tuple[str, ...] = ()  # Korean after the place noun: ("위", "에")
    object_may_be_subject: bool = True  # False: "the dog chases the dog" is refused

    @property
    def joined_present_reads_as_past(self) -> bool:
        """A joined subject takes the base form; where it equals the past ("read"), the simple
        present would read as the past."""
        return self.base == self.past


@dataclass(frozen=True)
class State:
    """The state in "because it was STATE", one Korean -아서/-어서 token."""

    english: str
    korean: str
    classes: frozenset[str]


NOUNS = tuple(
    Noun(english, korean, cls)
    for cls, words in (
        (PERSON, "boy 소년 girl 소녀 student 학생 teacher 선생님 baby 아기"),
        (ANIMAL, "cat 고양이 dog 개 bird 새 rabbit 토끼 bear 곰 horse 말"),
        (FURNITURE, "mat 매트 chair 의자 bed 침대 sofa 소파 table 식탁 box 상자"),
        (OBJECT, "book 책 ball 공 bag 가방 cup 컵 hat 모자"),
        (FOOD, "apple 사과 bread 빵 fish 생선 cake 케이크 rice 밥 banana 바나나"),
        (PLANT, "rose 장미 tulip 튤립 tree 나무 lily 백합"),
    )
    for english, korean in zip(words.split()[::2], words.split()[1::2], strict=True)
)


def nouns_of(*classes: str) -> frozenset[str]:
    """The English nouns of the given classes."""
    return frozenset(n.english for n in NOUNS if n.cls in classes)


CATEGORIES = (
    Category("animal", "동물", "an", nouns_of(ANIMAL)),
    Category("flower", "꽃", "a", frozenset({"rose", "tulip", "lily"})),
    Category("fruit", "과일", "a", frozenset({"apple", "banana"})),
    Category("plant", "식물", "a", nouns_of(PLANT)),
    Category("person", "사람", "a", nouns_of(PERSON)),
    Category("furniture", "가구", "", nouns_of(FURNITURE)),
    Category("food", "음식", "", nouns_of(FOOD)),
)

ADJECTIVES = (
    Adjective("big", "큰", ANY_CLASS),
    Adjective("small", "작은", ANY_CLASS),
    Adjective("red", "빨간", frozenset({OBJECT, FURNITURE, FOOD, PLANT})),
    Adjective("white", "하얀", ANY_CLASS),
    Adjective("black", "검은", frozenset({ANIMAL, OBJECT, FURNITURE})),
    Adjective("pretty", "예쁜", ANY_CLASS),
    Adjective("young", "어린", ANIMATE),
    Adjective("old", "늙은", ANIMATE),
    Adjective("old", "낡은", frozenset({OBJECT, FURNITURE})),
    Adjective("fresh", "신선한", frozenset({FOOD, PLANT})),
)

SIT_PLACE = ("위", "에")
SLEEP_PLACE = ("위", "에서")
_ANIMATE_TEXT = "a person or animal"

VERBS = (
    Verb(
        "eat",
        "eats",
        "ate",
        "eating",
        "먹",
        "먹는다",
        "먹었다",
        ANIMATE,
        _ANIMATE_TEXT,
        objects=nouns_of(FOOD),
        complement_text="food",
    ),
    Verb(
        "see",
        "sees",
        "saw",
        None,
        "보",
        "본다",
        "봤다",
        ANIMATE,
        _ANIMATE_TEXT,
        objects=nouns_of(*CLASSES),
        complement_text="any noun",
    ),
    Verb(
        "like",
        "likes",
        "liked",
        None,
        "좋아하",
        "좋아한다",
        "좋아했다",
        ANIMATE,
        _ANIMATE_TEXT,
        objects=nouns_of(*CLASSES),
        complement_text="any noun",
    ),
    Verb(
        "read",
        "reads",
        "read",
        "reading",
        "읽",
        "읽는다",
        "읽었다",
        frozenset({PERSON}),
        "a person",
        objects=frozenset({"book"}),
        complement_text="the book",
    ),
    Verb(
        "chase",
        "chases",
        "chased",
        "chasing",
        "쫓",
        "쫓는다",
        "쫓았다",
        ANIMATE,
        _ANIMATE_TEXT,
        objects=nouns_of(*ANIMATE),
        complement_text="a person or animal other than the subject",
        object_may_be_subject=False,
    ),
    Verb(
        "find",
        "finds",
        "found",
        None,
        "찾",
        "찾는다",
        "찾았다",
        ANIMATE,
        _ANIMATE_TEXT,
        objects=nouns_of(OBJECT, FOOD),
        complement_text="an object or food",
    ),
    Verb(
        "catch",
        "catches",
        "caught",
        None,
        "잡",
        "잡는다",
        "잡았다",
        ANIMATE,
        _ANIMATE_TEXT,
        objects=nouns_of(ANIMAL) | {"ball"},
        complement_text="the ball or an animal",
    ),
    Verb(
        "sit",
        "sits",
        "sat",
        None,
        "앉",
        "앉는다",
        "앉았다",
        ANIMATE,
        _ANIMATE_TEXT,
        places=nouns_of(FURNITURE),
        complement_text="'on' and furniture",
        place_required=True,
        place_words=SIT_PLACE,
    ),
    Verb(
        "sleep",
        "sleeps",
        "slept",
        "sleeping",
        "자",
        "잔다",
        "잤다",
        ANIMATE,
        _ANIMATE_TEXT,
        places=nouns_of(FURNITURE),
        complement_text="nothing, or 'on' and furniture",
        place_words=SLEEP_PLACE,
    ),
)

STATES = tuple(
    State(english, korean, classes)
    for classes, words in (
        (ANIMATE, "tired 피곤해서 hungry 배고파서 sleepy 졸려서 happy 기뻐서"),
        (frozenset({FURNITURE}), "soft 부드러워서 warm 따뜻해서 clean 깨끗해서 comfortable 편해서"),
        (frozenset({FOOD}), "delicious 맛있어서 fresh 신선해서 sweet 달아서"),
        (frozenset({OBJECT}), "cheap 싸서 light 가벼워서 heavy 무거워서 interesting 재미있어서"),
    )
    for english, korean in zip(words.split()[::2], words.split()[1::2], strict=True)
)

# Particles: (after a final consonant, after a vowel).
PARTICLES = {"topic": ("은", "는"), "subject": ("이", "가"), "object": ("을", "를"), "and": ("과", "와")}
COPULA, NOT_COPULA = "이다", "아니다"
NEGATION = ("지", "않는다", "않았다")  # stem suffix, present, past
PROGRESSIVE = ("고", "있다", "있었다")
IT_OBJECT, IT_PLACE = "그것", "그"  # "it" as object (그것 을), as place (그 위 에)

_NOUN = {n.english: n for n in NOUNS}
_CATEGORY = {c.english: c for c in CATEGORIES}
_STATE = {s.english: s for s in STATES}
_VERB = {v.base: v for v in VERBS}
_ADJECTIVE_WORDS = frozenset(a.english for a in ADJECTIVES)
_BY_PRESENT = {v.present: v for v in VERBS}
_BY_PAST = {v.past: v for v in VERBS}
_BY_ING = {v.ing: v for v in VERBS if v.ing}
_FUNCTION_WORDS = frozenset("the a an and is are was were not does do did on because it".split())

ENGLISH_WORDS = frozenset(
    _FUNCTION_WORDS
    | _NOUN.keys()
    | _CATEGORY.keys()
    | _ADJECTIVE_WORDS
    | _STATE.keys()
    | {form for v in VERBS for form in (v.base, v.present, v.past, v.ing) if form}
)
KOREAN_TOKENS = frozenset(
    {n.korean for n in NOUNS}
    | {c.korean for c in CATEGORIES}
    | {a.korean for a in ADJECTIVES}
    | {s.korean for s in STATES}
    | {p for pair in PARTICLES.values() for p in pair}
    | {v.korean_present for v in VERBS}
    | {v.korean_past for v in VERBS}
    | {v.stem + NEGATION[0] for v in VERBS}
    | {v.stem + PROGRESSIVE[0] for v in VERBS if v.ing}
    | {COPULA, NOT_COPULA, IT_OBJECT, IT_PLACE, *NEGATION[1:], *PROGRESSIVE[1:], *SIT_PLACE, *SLEEP_PLACE}
)


def has_final_consonant(word: str) -> bool:
    """Whether the last syllable of a Korean word has a final consonant (받침).

    A Hangul syllable's code point is 0xAC00 + (21 * initial + medial) * 28 + final,
    with final == 0 meaning none: the remainder mod 28 is the final consonant.
    """
    last = word[-1:]
    if not "가" <= last <= "힣":
        raise ValueError(f"{word!r} does not end in a Hangul syllable")
    return (ord(last) - 0xAC00) % 28 != 0


def particle(word: str, role: str) -> str:
    """The particle for ``role`` ("topic", "subject", "object", "and") after ``word``."""
    after_consonant, after_vowel = PARTICLES[role]
    return after_consonant if has_final_consonant(word) else after_vowel


@dataclass(frozen=True)
class NounPhrase:
    """``the [ADJ] N`` (English words)."""

    noun: str
    adjective: str | None = None


@dataclass(frozen=True)
class Copula:
    """Form 1: ``the N is [not] a C``."""

    subject: NounPhrase
    category: str
    negated: bool = False


Aspect = Literal["simple", "negated", "progressive"]


@dataclass(frozen=True)
class Clause:
    """Forms 2 and 3: a subject (one noun, or two joined), a verb, an object or place."""

    subjects: tuple[NounPhrase, ...]
    verb: str  # the base form
    complement: NounPhrase | None = None  # the object, or the place after "on"
    past: bool = False
    aspect: Aspect = "simple"


@dataclass(frozen=True)
class Because:
    """Form 4: ``MAIN because it is/was STATE``."""

    main: Clause
    state: str


Sentence = Copula | Clause | Because
Referent = Literal["subject", "object", "place"]


def _noun(english: str) -> Noun:
    if english in _NOUN:
        return _NOUN[english]
    if english in _CATEGORY:
        raise ValueError(_category_as_noun(english))
    raise ValueError(f"unknown noun '{english}'")


def _category_as_noun(word: str) -> str:
    return f"'{word}' is a category, used only after 'is' ('the cat is an animal'); use a noun such as 'cat'"


def _adjective(phrase: NounPhrase) -> Adjective | None:
    if phrase.adjective is None:
        return None
    noun = _noun(phrase.noun)
    for adjective in ADJECTIVES:
        if adjective.english == phrase.adjective and noun.cls in adjective.classes:
            return adjective
    if phrase.adjective not in _ADJECTIVE_WORDS:
        raise ValueError(f"unknown adjective '{phrase.adjective}'")
    raise ValueError(f"'{phrase.adjective}' does not go with '{phrase.noun}' ({noun.cls})")


def _verb(base: str) -> Verb:
    if base not in _VERB:
        raise ValueError(f"unknown verb '{base}'")
    return _VERB[base]


def _state(english: str) -> State:
    if english not in _STATE:
        raise ValueError(f"unknown state '{english}'")
    return _STATE[english]


def fitting_nouns(sentence: Because) -> list[tuple[Referent, NounPhrase]]:
    """The nouns of the main clause that the state could describe, with their roles."""
    main = sentence.main
    verb = _verb(main.verb)
    roles: list[tuple[Referent, NounPhrase]] = [("subject", p) for p in main.subjects]
    if main.complement is not None:
        roles.append(("object" if verb.objects else "place", main.complement))
    classes = _state(sentence.state).classes
    return [(role, p) for role, p in roles if _noun(p.noun).cls in classes]


def referent(sentence: Because) -> Referent:
    """What "it" refers to: the one noun of the main clause fitting the state's class."""
    check(sentence)
    ((role, _),) = fitting_nouns(sentence)
    return role


def check(sentence: Sentence) -> None:
    """Raise ValueError if the grammar does not cover ``sentence``, naming what is wrong."""
    if isinstance(sentence, Copula):
        _check_copula(sentence)
    elif isinstance(sentence, Clause):
        _check_clause(sentence)
    elif isinstance(sentence, Because):
        _check_because(sentence)
    else:
        raise TypeError(f"not a sentence: {sentence!r}")


def _check_copula(sentence: Copula) -> None:
    _adjective(sentence.subject)
    noun = _noun(sentence.subject.noun)
    if sentence.category not in _CATEGORY:
        raise ValueError(
            f"'{sentence.category}' is not a category: after 'is' use one of " + ", ".join(_CATEGORY)
        )
    true = noun.english in _CATEGORY[sentence.category].members
    if true and sentence.negated:
        raise ValueError(
            f"'{english(sentence)}' is not true: use 'is' (the negation is used only with a false category)"
        )
    if not true and not sentence.negated:
        raise ValueError(f"'{english(sentence)}' is not a true fact: use 'is not'")


def _check_clause(sentence: Clause) -> None:
    verb = _verb(sentence.verb)
    if len(sentence.subjects) not in (1, 2):
        raise ValueError("a subject is one noun or two joined by 'and'")
    for subject in sentence.subjects:
        _adjective(subject)
        noun = _noun(subject.noun)
        if noun.cls not in verb.subjects:
            raise ValueError(
                f"'{verb.base}' needs {verb.subject_text} as its subject, not '{noun.english}' ({noun.cls})"
            )
    nouns = [s.noun for s in sentence.subjects]
    if len(set(nouns)) < len(nouns):
        raise ValueError(f"'the {nouns[0]} and the {nouns[1]}' joins a noun with itself")
    if sentence.aspect not in ("simple", "negated", "progressive"):
        raise ValueError(f"unknown aspect {sentence.aspect!r}")
    if sentence.aspect == "progressive" and verb.ing is None:
        raise ValueError(f"'{verb.base}' has no progressive (-ing) form in this grammar")
    if (
        len(nouns) == 2
        and verb.joined_present_reads_as_past
        and sentence.aspect == "simple"
        and not sentence.past
    ):
        raise ValueError(
            f"a joined subject with '{verb.base}' in the simple present would read as the past: not covered"
        )
    _check_complement(sentence, verb)


def _check_complement(sentence: Clause, verb: Verb) -> None:
    complement = sentence.complement
    if complement is None:
        if verb.objects or verb.place_required:
            raise ValueError(f"'{verb.base}' needs {verb.complement_text} after it")
        return
    _adjective(complement)
    allowed = verb.objects or verb.places
    if complement.noun not in allowed:
        raise ValueError(
            f"'{verb.base}' takes {verb.complement_text}, "
            f"not '{complement.noun}' ({_noun(complement.noun).cls})"
        )
    if not verb.object_may_be_subject and complement.noun in {s.noun for s in sentence.subjects}:
        raise ValueError(
            f"'{verb.base}' takes {verb.complement_text}: the {complement.noun} cannot {verb.base} itself"
        )


def _check_because(sentence: Because) -> None:
    main = sentence.main
    if not isinstance(main, Clause):
        raise ValueError("a because-clause follows a clause with a verb (forms 2 and 3), not 'is a ...'")
    _check_clause(main)
    _state(sentence.state)
    if len(main.subjects) != 1:
        raise ValueError("a because-clause needs a single-noun subject, not two joined ones")
    if main.aspect != "simple":
        raise ValueError(
            f"a because-clause follows a plain present or past verb, not a "
            f"{main.aspect} one ('{english(main)}')"
        )
    fits = fitting_nouns(sentence)
    if not fits:
        raise ValueError(
            f"'it' cannot be {sentence.state}: no noun in '{english(main)}' can be {sentence.state}"
        )
    if len(fits) > 1:
        names = " and ".join(f"'{p.noun}'" for _, p in fits)
        raise ValueError(f"'it' is ambiguous: {names} can both be {sentence.state}")


# English.


def _english_np(phrase: NounPhrase) -> list[str]:
    return ["the", *([phrase.adjective] if phrase.adjective else []), phrase.noun]


def _english_verb(clause: Clause, verb: Verb) -> list[str]:
    joined = len(clause.subjects) > 1
    if clause.aspect == "negated":
        auxiliary = "did" if clause.past else ("do" if joined else "does")
        return [auxiliary, "not", verb.base]
    if clause.aspect == "progressive":
        be = ("were" if joined else "was") if clause.past else ("are" if joined else "is")
        return [be, verb.ing or ""]
    if clause.past:
        return [verb.past]
    return [verb.base if joined else verb.present]


def _english_clause(clause: Clause) -> list[str]:
    verb = _verb(clause.verb)
    words = _english_np(clause.subjects[0])
    for subject in clause.subjects[1:]:
        words += ["and", *_english_np(subject)]
    words += _english_verb(clause, verb)
    if clause.complement is not None:
        words += ([] if verb.objects else ["on"]) + _english_np(clause.complement)
    return words


def english(sentence: Sentence) -> str:
    """The English text of a sentence tree (words separated by single spaces)."""
    if isinstance(sentence, Copula):
        category = _CATEGORY[sentence.category]
        words = [
            *_english_np(sentence.subject),
            "is",
            *(["not"] if sentence.negated else []),
            *([category.article] if category.article else []),
            category.english,
        ]
    elif isinstance(sentence, Clause):
        words = _english_clause(sentence)
    else:
        words = [
            *_english_clause(sentence.main),
            "because",
            "it",
            "was" if sentence.main.past else "is",
            sentence.state,
        ]
    return " ".join(words)


# Korean.


def _korean_np(phrase: NounPhrase) -> list[str]:
    adjective = _adjective(phrase)
    return [*([adjective.korean] if adjective else []), _noun(phrase.noun).korean]


def _korean_subject(subjects: tuple[NounPhrase, ...]) -> list[str]:
    """The subject with its topic particle: 고양이 와 개 는."""
    tokens: list[str] = []
    for i, phrase in enumerate(subjects):
        tokens += _korean_np(phrase)
        role = "topic" if i == len(subjects) - 1 else "and"
        tokens.append(particle(tokens[-1], role))
    return tokens


def _korean_verb(clause: Clause, verb: Verb) -> list[str]:
    if clause.aspect == "negated":
        return [verb.stem + NEGATION[0], NEGATION[2] if clause.past else NEGATION[1]]
    if clause.aspect == "progressive":
        return [verb.stem + PROGRESSIVE[0], PROGRESSIVE[2] if clause.past else PROGRESSIVE[1]]
    return [verb.korean_past if clause.past else verb.korean_present]


def _korean_complement(clause: Clause, verb: Verb) -> list[str]:
    """Korean of the clause after its subject: object or place, then the verb."""
    tokens: list[str] = []
    if clause.complement is not None:
        tokens += _korean_np(clause.complement)
        if verb.objects:
            tokens.append(particle(tokens[-1], "object"))
        else:
            tokens += verb.place_words
    return tokens + _korean_verb(clause, verb)


def _korean_because(sentence: Because) -> list[str]:
    main = sentence.main
    verb = _verb(main.verb)
    state = _state(sentence.state).korean
    subject = _korean_subject(main.subjects)
    ((role, _),) = fitting_nouns(sentence)  # korean() has checked there is exactly one
    if role == "subject":
        return [*subject, state, *_korean_complement(main, verb)]
    assert main.complement is not None  # the referent is the object or place
    it = _korean_np(main.complement)
    it += [particle(it[-1], "subject"), state]
    if role == "object":
        rest = [IT_OBJECT, particle(IT_OBJECT, "object")]
    else:
        rest = [IT_PLACE, *verb.place_words]
    return [*it, *subject, *rest, *_korean_verb(main, verb)]


def korean(sentence: Sentence) -> str:
    """The Korean translation of a sentence tree (tokens separated by single spaces)."""
    check(sentence)
    if isinstance(sentence, Copula):
        subject = _korean_subject((sentence.subject,))
        category = _CATEGORY[sentence.category].korean
        if sentence.negated:
            return " ".join([*subject, category, particle(category, "subject"), NOT_COPULA])
        return " ".join([*subject, category, COPULA])
    if isinstance(sentence, Clause):
        verb = _verb(sentence.verb)
        return " ".join(_korean_subject(sentence.subjects) + _korean_complement(sentence, verb))
    return " ".join(_korean_because(sentence))


# Parsing.

_BE = frozenset({"is", "are", "was", "were"})


def _unknown_word(word: str) -> str:
    hint = ""
    if word.lower() in ENGLISH_WORDS:
        hint = " (write words in lower case)"
    elif word.strip(".,!?;:'\"") in ENGLISH_WORDS:
        hint = " (leave out punctuation)"
    elif word.endswith("s") and word[:-1] in _NOUN:
        hint = f" (plural nouns are not covered: use 'the {word[:-1]}')"
    elif word.endswith("ing"):
        hint = " (the progressive exists only for " + ", ".join(_BY_ING) + ")"
    return f"unknown word '{word}'{hint}"


class _Parser:
    """Recursive descent over the words of one sentence, left to right."""

    def __init__(self, words: list[str]):
        self.words = words
        self.pos = 0

    def peek(self, ahead: int = 0) -> str | None:
        i = self.pos + ahead
        return self.words[i] if i < len(self.words) else None

    def take(self) -> str:
        word = self.words[self.pos]
        self.pos += 1
        return word

    def fail(self, expected: str) -> ValueError:
        done = " ".join(self.words[: self.pos])
        where = f"after '{done}'" if done else "at the start"
        word = self.peek()
        if word is None:
            return ValueError(f"the sentence ends {where}: expected {expected}")
        return ValueError(f"unexpected '{word}' {where}: expected {expected}")

    def sentence(self) -> Sentence:
        subjects = self.subjects()
        if self.peek() in _BE and (self.peek(1) in {"a", "an", "not"} | _CATEGORY.keys()):
            copula = self.copula(subjects)
            if self.peek() == "because":
                raise ValueError(
                    "a because-clause follows a clause with a verb (forms 2 and 3), not 'is a ...'"
                )
            self.end("the end of the sentence")
            return copula
        clause = self.clause(subjects)
        if self.peek() != "because":
            more = "" if clause.complement or _verb(clause.verb).objects else "'on', "
            self.end(f"{more}'because' or the end of the sentence")
            return clause
        self.take()
        if self.peek() != "it":
            raise self.fail("'it' after 'because'")
        self.take()
        if self.peek() not in ("is", "was"):
            raise self.fail("'is' or 'was' after 'because it'")
        past = self.take() == "was"
        if self.peek() not in _STATE:
            raise self.fail("a state (" + ", ".join(_STATE) + ")")
        state = self.take()
        self.end("the end of the sentence")
        if past != clause.past:
            tense = "past" if clause.past else "present"
            raise ValueError(
                f"'{english(clause)}' is in the {tense}: use 'because it "
                f"{'was' if clause.past else 'is'} {state}'"
            )
        return Because(clause, state)

    def end(self, expected: str) -> None:
        if self.peek() is not None:
            raise self.fail(expected)

    def noun_phrase(self, role: str) -> NounPhrase:
        if self.peek() == "it":
            raise ValueError("'it' is used only in 'because it is/was ...'")
        if self.peek() != "the":
            if self.peek() in ("a", "an"):
                raise ValueError(
                    f"'{self.peek()}' is used only before a category after 'is': write 'the' before {role}"
                )
            raise self.fail(f"'the' and {role}")
        self.take()
        adjective = self.take() if self.peek() in _ADJECTIVE_WORDS else None
        word = self.peek()
        if word in _ADJECTIVE_WORDS:
            raise ValueError(f"'{adjective} {word}': at most one adjective before a noun")
        if word in _CATEGORY:
            raise ValueError(_category_as_noun(word))
        if word not in _NOUN:
            raise self.fail(f"{role} (a noun such as 'cat')")
        return NounPhrase(self.take(), adjective)

    def subjects(self) -> tuple[NounPhrase, ...]:
        subjects = [self.noun_phrase("a subject")]
        if self.peek() == "and":
            self.take()
            subjects.append(self.noun_phrase("a second subject"))
            if self.peek() == "and":
                raise ValueError("at most two subjects can be joined by 'and'")
        return tuple(subjects)

    def copula(self, subjects: tuple[NounPhrase, ...]) -> Copula:
        be = self.take()
        if len(subjects) > 1:
            raise ValueError(f"'{be} a ...' with a joined subject needs plural nouns, which are not covered")
        if be != "is":
            raise ValueError(f"'{be}' before a category: the copula is 'is' (present only)")
        negated = self.peek() == "not"
        if negated:
            self.take()
            if self.peek() in _BY_ING:
                raise ValueError(
                    f"'is not {self.peek()}': a negated progressive is not "
                    "covered; use 'does not' or 'did not'"
                )
        article = self.take() if self.peek() in ("a", "an") else ""
        word = self.peek()
        if word not in _CATEGORY:
            if word in _NOUN:
                raise ValueError(f"'{word}' is not a category: after 'is' use one of " + ", ".join(_CATEGORY))
            raise self.fail("a category (" + ", ".join(_CATEGORY) + ")")
        category = _CATEGORY[self.take()]
        if article != category.article:
            said = " ".join(filter(None, ["is", "not" * negated, article, word]))
            right = " ".join(filter(None, ["is", "not" * negated, category.article, word]))
            raise ValueError(f"'{said}': write '{right}'")
        return Copula(subjects[0], category.english, negated)

    def clause(self, subjects: tuple[NounPhrase, ...]) -> Clause:
        single = len(subjects) == 1
        word = self.peek()
        if word in _BE:
            be = self.take()
            if single != (be in ("is", "was")):
                right = {"is": "are", "are": "is", "was": "were", "were": "was"}[be]
                raise ValueError(f"'{be}' does not agree with the subject: use '{right}'")
            if self.peek() in _ADJECTIVE_WORDS | _STATE.keys():
                raise ValueError(
                    f"'{be} {self.peek()}': adjectives go before a noun ('the big "
                    "cat'); after 'is' use a category or a verb in -ing"
                )
            if self.peek() not in _BY_ING:
                raise self.fail("a verb in -ing (" + ", ".join(_BY_ING) + ") or a category")
            verb, past, aspect = _BY_ING[self.take()], be in ("was", "were"), "progressive"
        elif word in ("does", "do", "did"):
            auxiliary = self.take()
            if auxiliary != "did" and single != (auxiliary == "does"):
                raise ValueError(
                    f"'{auxiliary}' does not agree with the subject: use '{'does' if single else 'do'}'"
                )
            if self.peek() != "not":
                raise self.fail(f"'not' after '{auxiliary}'")
            self.take()
            if self.peek() not in _VERB:
                raise self.fail("a verb's base form (" + ", ".join(_VERB) + ")")
            verb, past, aspect = _VERB[self.take()], auxiliary == "did", "negated"
        elif word in _BY_PAST:  # before the base forms: "read" is both
            verb, past, aspect = _BY_PAST[self.take()], True, "simple"
        elif word in _BY_PRESENT:
            if not single:
                raise ValueError(
                    f"a joined subject takes the plural '{_BY_PRESENT[word].base}', not '{word}'"
                )
            verb, past, aspect = _BY_PRESENT[self.take()], False, "simple"
        elif word in _VERB:
            if single:
                raise ValueError(f"a single subject takes '{_VERB[word].present}', not '{word}'")
            verb, past, aspect = _VERB[self.take()], False, "simple"
        else:
            raise self.fail("a verb")
        complement = None
        if verb.objects:
            complement = self.noun_phrase(f"the object of '{verb.base}'")
        elif self.peek() == "on":
            self.take()
            complement = self.noun_phrase(f"a place after '{verb.base} on'")
        elif verb.place_required:
            raise self.fail(f"'on the ...' after '{verb.past}'")
        return Clause(subjects, verb.base, complement, past, aspect)


def parse(text: str) -> Sentence:
    """Read an English sentence into its tree; raise ValueError if it is not covered."""
    words = text.split()
    if not words:
        raise ValueError("empty sentence")
    for word in words:
        if word not in ENGLISH_WORDS:
            raise ValueError(_unknown_word(word))
    sentence = _Parser(words).sentence()
    check(sentence)
    return sentence


def translate(english_text: str) -> str:
    """Translate an English sentence of the grammar into Korean.

    Raises:
        ValueError: naming the first word or construction the grammar does not cover.
    """
    return korean(parse(english_text))
