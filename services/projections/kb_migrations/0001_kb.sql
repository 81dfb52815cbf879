-- The knowledge base: articles written by staff (not ticket events, so kept apart from the
-- projections schema, which a replay drops and rebuilds from the log).
CREATE TABLE articles (
    id          bigserial PRIMARY KEY,
    title       text        NOT NULL,
    body        text        NOT NULL,   -- Markdown, rendered without raw HTML
    category    text        NOT NULL,
    tags        text[]      NOT NULL DEFAULT '{}',
    tags_text   text        NOT NULL DEFAULT '',  -- the tags as words (array_to_string is not immutable)
    language    text        NOT NULL CHECK (language IN ('es', 'en')),
    author      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    views       integer     NOT NULL DEFAULT 0,
    helpful     integer     NOT NULL DEFAULT 0,
    not_helpful integer     NOT NULL DEFAULT 0,
    -- stems in the article's own language: "devoluciones" finds "devolución"
    search      tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector(CASE language WHEN 'en' THEN 'english'::regconfig ELSE 'spanish'::regconfig END,
                              title), 'A') ||
        setweight(to_tsvector(CASE language WHEN 'en' THEN 'english'::regconfig ELSE 'spanish'::regconfig END,
                              tags_text), 'B') ||
        setweight(to_tsvector(CASE language WHEN 'en' THEN 'english'::regconfig ELSE 'spanish'::regconfig END,
                              body), 'C')
    ) STORED
);
CREATE INDEX articles_search ON articles USING gin (search);
CREATE INDEX articles_category ON articles (category, language);

-- "This solved it": a requester who found the answer before opening a ticket.
CREATE TABLE deflections (
    id         bigserial PRIMARY KEY,
    article_id bigint      NOT NULL REFERENCES articles (id),
    who        text        NOT NULL,
    query      text        NOT NULL DEFAULT '',
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deflections_article ON deflections (article_id, at);

-- One vote per person and article.
CREATE TABLE votes (
    article_id bigint  NOT NULL REFERENCES articles (id),
    who        text    NOT NULL,
    helpful    boolean NOT NULL,
    PRIMARY KEY (article_id, who)
);
